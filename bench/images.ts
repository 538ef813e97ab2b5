/**
 * Bench inputs, built once and cached in $ATOMIC_BENCH_DIR (default /tmp/atomic-bench):
 * - debian-minbase.tar: `mmdebstrap --variant=minbase --skip=output/dev bookworm` (no device nodes:
 *   ostree refuses them);
 * - debian-update.tar: the same tree with every 20th regular file changed (5% of the files; a line
 *   appended), the "update that changes 5% of the files";
 * - oci-<name>: each tar as a one-layer gzip OCI layout (tag latest), for the registry.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import tarStream from 'tar-stream';

export const BENCH_DIR = process.env.ATOMIC_BENCH_DIR ?? '/tmp/atomic-bench';
export const TAR = path.join(BENCH_DIR, 'debian-minbase.tar');
export const UPDATE_TAR = path.join(BENCH_DIR, 'debian-update.tar');

export function ensureTar(): void {
  if (fs.existsSync(TAR)) return;
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  console.log(`building ${TAR} with mmdebstrap (once)...`);
  execFileSync('mmdebstrap', ['--variant=minbase', '--skip=output/dev', 'bookworm', `${TAR}.partial.tar`], { stdio: 'inherit' });
  fs.renameSync(`${TAR}.partial.tar`, TAR);
}

export interface UpdateStats {
  files: number;
  changed: number;
  /** Bytes of the changed files (new content). */
  changedBytes: number;
}

/** The 5% update of TAR (cached with its stats). */
export async function ensureUpdateTar(): Promise<UpdateStats> {
  const statsFile = `${UPDATE_TAR}.stats.json`;
  if (fs.existsSync(UPDATE_TAR) && fs.existsSync(statsFile)) return JSON.parse(fs.readFileSync(statsFile, 'utf8')) as UpdateStats;
  const stats: UpdateStats = { files: 0, changed: 0, changedBytes: 0 };
  const extract = tarStream.extract();
  const pack = tarStream.pack();
  const out = pipeline(pack, fs.createWriteStream(`${UPDATE_TAR}.partial`));
  extract.on('entry', (header, stream, next) => {
    if (header.type !== 'file') {
      stream.on('end', next);
      stream.pipe(pack.entry(header));
      return;
    }
    stats.files++;
    if (stats.files % 20 !== 0) {
      stream.pipe(pack.entry(header, next));
      return;
    }
    const parts: Buffer[] = [];
    stream.on('data', (c: unknown) => parts.push(c as Buffer));
    stream.on('end', () => {
      const body = Buffer.concat([...parts, Buffer.from(`\n# bench update ${stats.files}\n`)]);
      stats.changed++;
      stats.changedBytes += body.length;
      pack.entry({ ...header, size: body.length }, body, next);
    });
  });
  extract.on('finish', () => pack.finalize());
  await pipeline(fs.createReadStream(TAR), extract);
  await out;
  fs.renameSync(`${UPDATE_TAR}.partial`, UPDATE_TAR);
  fs.writeFileSync(statsFile, JSON.stringify(stats));
  return stats;
}

function hashing(h: ReturnType<typeof createHash>, count: { n: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      h.update(chunk);
      count.n += chunk.length;
      cb(null, chunk);
    },
  });
}

/** TAR as a one-layer gzip OCI layout at DIR (tag latest), cached by the tar's size and mtime. */
export async function ensureLayout(tar: string, dir: string): Promise<void> {
  const st = fs.statSync(tar);
  const stamp = `${st.size}-${st.mtimeMs}`;
  const stampFile = path.join(dir, '.source-stamp');
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp) return;
  fs.rmSync(dir, { recursive: true, force: true });
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const diff = createHash('sha256');
  const comp = createHash('sha256');
  const u = { n: 0 };
  const c = { n: 0 };
  const tmp = path.join(blobs, 'layer.partial');
  await pipeline(fs.createReadStream(tar), hashing(diff, u), zlib.createGzip({ level: 6 }), hashing(comp, c), fs.createWriteStream(tmp));
  const layerDigest = `sha256:${comp.digest('hex')}`;
  fs.renameSync(tmp, path.join(blobs, layerDigest.slice(7)));
  const writeBlob = (obj: unknown): { digest: string; size: number } => {
    const raw = Buffer.from(JSON.stringify(obj));
    const digest = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    fs.writeFileSync(path.join(blobs, digest.slice(7)), raw);
    return { digest, size: raw.length };
  };
  const config = writeBlob({
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/bash'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${diff.digest('hex')}`] },
    history: [{ created_by: `bench: ${path.basename(tar)}` }],
  });
  const manifest = writeBlob({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: c.n }],
  });
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(stampFile, stamp);
}

/**
 * TAR as a 4-layer gzip OCI layout at DIR (tag latest) built by umoci (init, new, unpack, then one
 * `repack --refresh-bundle` per part): the tree without usr/lib, usr/share and usr/bin (~10 MiB),
 * then usr/lib (~66 MiB), usr/share (~59 MiB), usr/bin (~20 MiB). Cached by the tar's size and mtime.
 */
export function ensureMultiLayerLayout(tar: string, dir: string): void {
  const st = fs.statSync(tar);
  const stamp = `${st.size}-${st.mtimeMs}-4`;
  const stampFile = path.join(dir, '.source-stamp');
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp) return;
  fs.rmSync(dir, { recursive: true, force: true });
  const bundle = `${dir}.bundle`;
  fs.rmSync(bundle, { recursive: true, force: true });
  const img = `${dir}:latest`;
  const run = (cmd: string, args: string[]): void => {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  };
  const parts = ['./usr/lib', './usr/share', './usr/bin'];
  try {
    run('umoci', ['init', '--layout', dir]);
    run('umoci', ['new', '--image', img]);
    run('umoci', ['config', '--image', img, '--config.cmd', '/bin/bash']);
    run('umoci', ['unpack', '--image', img, bundle]);
    const rootfs = path.join(bundle, 'rootfs');
    run('tar', ['-xf', tar, '-C', rootfs, '--numeric-owner', ...parts.map((p) => `--exclude=${p}/*`)]);
    run('umoci', ['repack', '--refresh-bundle', '--image', img, bundle]);
    for (const p of parts) {
      run('tar', ['-xf', tar, '-C', rootfs, '--numeric-owner', p]);
      run('umoci', ['repack', '--refresh-bundle', '--image', img, bundle]);
    }
  } finally {
    fs.rmSync(bundle, { recursive: true, force: true });
  }
  fs.writeFileSync(stampFile, stamp);
}
