/**
 * npm run bench:registry: pull a large image from a local registry (CNCF distribution via
 * shared/fixtures/registry.sh on 127.0.0.1, plain HTTP) with our client, next to
 * `skopeo copy --src-tls-verify=false docker://... oci:DIR` of the same image in the same run.
 *
 * The image is the Debian minbase rootfs tar of bench/run.ts ($ATOMIC_BENCH_DIR, default
 * /tmp/atomic-bench/debian-minbase.tar) as a single-layer gzip OCI image, built here with zlib
 * (cached next to the tar). Ours = `pullImage` into a fresh bare store: fetch, gunzip, hash,
 * write every file as an OSTree object, commit. skopeo only writes the compressed blobs to an OCI
 * layout (no decompression, no per-file objects), so the ratio is not like-for-like.
 * Also timed: our whole CLI process (`atomic pull`), and the transfer alone (manifest + blob streamed
 * through the registry client and its digest/size check, no store): the like-for-like part. Runs: $ATOMIC_BENCH_RUNS (default 3), median,
 * after one warm-up round.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { OstreeRepo } from '../src/store/repo.js';
import { pullImage } from '../src/app/images/pull.js';
import { openImageSource } from '../src/image/transports.js';

const BENCH_DIR = process.env.ATOMIC_BENCH_DIR ?? '/tmp/atomic-bench';
const RUNS = Number(process.env.ATOMIC_BENCH_RUNS ?? 3);
const TAR = path.join(BENCH_DIR, 'debian-minbase.tar');
const LAYOUT = path.join(BENCH_DIR, 'oci-debian-gzip');
const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = (() => {
  let d = here;
  while (!fs.existsSync(path.join(d, 'package.json'))) d = path.dirname(d);
  return d;
})();
const SHARED = process.env.ATOMIC_SHARED_DIR ?? path.resolve(ROOT, '..', 'shared');
const REGISTRY_SH = path.join(SHARED, 'fixtures', 'registry.sh');
const BIN = path.join(ROOT, 'bin', 'run.js');

function ensureTar(): void {
  if (fs.existsSync(TAR)) return;
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  console.log(`building ${TAR} with mmdebstrap (once)...`);
  execFileSync('mmdebstrap', ['--variant=minbase', '--skip=output/dev', 'bookworm', `${TAR}.partial.tar`], { stdio: 'inherit' });
  fs.renameSync(`${TAR}.partial.tar`, TAR);
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

/** The tar as a one-layer gzip OCI layout (tag `latest`), cached by the tar's size and mtime. */
async function ensureLayout(): Promise<void> {
  const st = fs.statSync(TAR);
  const stamp = `${st.size}-${st.mtimeMs}`;
  const stampFile = path.join(LAYOUT, '.source-stamp');
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp) return;
  fs.rmSync(LAYOUT, { recursive: true, force: true });
  const blobs = path.join(LAYOUT, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  console.log(`building the gzip OCI image of ${TAR} (once)...`);
  const diff = createHash('sha256');
  const comp = createHash('sha256');
  const u = { n: 0 };
  const c = { n: 0 };
  const tmp = path.join(blobs, 'layer.partial');
  await pipeline(fs.createReadStream(TAR), hashing(diff, u), zlib.createGzip({ level: 6 }), hashing(comp, c), fs.createWriteStream(tmp));
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
    history: [{ created_by: 'mmdebstrap --variant=minbase bookworm' }],
  });
  const manifest = writeBlob({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: c.n }],
  });
  fs.writeFileSync(path.join(LAYOUT, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
  fs.writeFileSync(path.join(LAYOUT, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(stampFile, stamp);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  for (;;) {
    const p = 20000 + Math.floor(Math.random() * 30000);
    if ((await portFree(p)) && (await portFree(p + 1))) return p;
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  ensureTar();
  await ensureLayout();
  const layerFile = fs.readdirSync(path.join(LAYOUT, 'blobs', 'sha256')).map((f) => path.join(LAYOUT, 'blobs', 'sha256', f)).sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]!;
  const blobSize = fs.statSync(layerFile).size;
  const regDir = fs.mkdtempSync(path.join(BENCH_DIR, 'registry-'));
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
  const regEnv = { ...env, REG_DIR: regDir, REG_PORT: String(port), REG_AUTH: 'none', REG_TLS: '0' };
  const image = `127.0.0.1:${port}/bench/debian:latest`;
  const works: string[] = [];
  try {
    execFileSync('bash', [REGISTRY_SH, 'start'], { env: regEnv, stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${LAYOUT}:latest`, `docker://${image}`], { stdio: ['ignore', 'ignore', 'inherit'] });
    console.log(`image: docker://${image} (1 gzip layer, ${(blobSize / 1048576).toFixed(1)} MiB compressed, ${(fs.statSync(TAR).size / 1048576).toFixed(1)} MiB tar), ${RUNS} run(s) each, median`);
    const ours: number[] = [];
    const cli: number[] = [];
    const xfer: number[] = [];
    const sk: number[] = [];
    const skOstree: number[] = [];
    const s2 = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
    for (let i = -1; i < RUNS; i++) {
      const work = fs.mkdtempSync(path.join(BENCH_DIR, 'regrun-'));
      works.push(work);
      spawnSync('sync');
      const runOurs = async (): Promise<number> => {
        const repo = await OstreeRepo.openOrCreate(path.join(work, 'repo'), 'bare');
        const t = performance.now();
        const r = await pullImage(repo, `docker://${image}`);
        const ms = performance.now() - t;
        if (r.layersImported !== 1) throw new Error(`expected 1 imported layer, got ${r.layersImported}`);
        return ms;
      };
      const runSkopeo = (): number => {
        const t = performance.now();
        execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${image}`, `oci:${path.join(work, 'skopeo-oci')}:latest`], { stdio: ['ignore', 'ignore', 'inherit'] });
        return performance.now() - t;
      };
      // what atomic itself did: skopeo fetches, then the layer is committed to OSTree
      // (skopeo's ostree: transport untarred and committed; `ostree commit --tree=tar=` of the blob is
      // the same work without the temp tree). Baseline = skopeo copy + ostree commit of its blob.
      const runOstreeCommit = (): number => {
        const blobs = path.join(work, 'skopeo-oci', 'blobs', 'sha256');
        const big = fs.readdirSync(blobs).map((n) => path.join(blobs, n)).sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0];
        const repo = path.join(work, 'ostree-repo');
        execFileSync('ostree', ['init', `--repo=${repo}`, '--mode=bare']);
        const t = performance.now();
        execFileSync('ostree', ['commit', `--repo=${repo}`, '-b', 'layer', `--tree=tar=${big}`, '--no-bindings'], { env: { ...process.env, LC_ALL: 'C.UTF-8' }, stdio: ['ignore', 'ignore', 'inherit'] });
        return performance.now() - t;
      };
      const runCli = (): number => {
        const t = performance.now();
        execFileSync(process.execPath, [BIN, 'pull', `docker://${image}`], {
          env: { ...env, ATOMIC_OSTREE_REPO: path.join(work, 'cli', 'ck', '.storage', 'ostree'), ATOMIC_OSTREE_CHECKOUT_PATH: path.join(work, 'cli', 'ck'), ATOMIC_CONF: '/nonexistent/atomic.conf', NODE_NO_WARNINGS: '1' },
          stdio: ['ignore', 'ignore', 'ignore'],
        });
        return performance.now() - t;
      };
      let o: number;
      let s: number;
      if (i % 2 === 0) {
        s = runSkopeo();
        o = await runOurs();
      } else {
        o = await runOurs();
        s = runSkopeo();
      }
      const oc = runOstreeCommit();
      const c = runCli();
      const x = await (async (): Promise<number> => {
        const t = performance.now();
        const src = await openImageSource(`docker://${image}`);
        try {
          const m = await src.getManifest();
          for (const d of [m.config, ...m.layers]) {
            const b = await src.getBlob(d);
            await new Promise<void>((resolve, reject) => {
              b.on('data', () => undefined);
              b.on('end', resolve);
              b.on('error', reject);
            });
          }
        } finally {
          await src.close();
        }
        return performance.now() - t;
      })();
      console.log(`${(i < 0 ? 'warm-up' : `run ${i + 1}`).padEnd(8)} atomic pull ${s2(o)} (CLI process ${s2(c)}, transfer only ${s2(x)}) vs skopeo copy ${s2(s)} (+ ostree commit ${s2(oc)})`);
      fs.rmSync(work, { recursive: true, force: true });
      if (i < 0) continue;
      ours.push(o);
      cli.push(c);
      xfer.push(x);
      sk.push(s);
      skOstree.push(s + oc);
    }
    const f = (ms: number): string => `${(ms / 1000).toFixed(2)} s`.padStart(9);
    const so = median(sk);
    console.log('');
    console.log('registry pull                 time     ratio vs skopeo (target <= 1.00)');
    console.log(`atomic (pullImage)       ${f(median(ours))}   ${(median(ours) / so).toFixed(2)}x`);
    console.log(`atomic (CLI process)     ${f(median(cli))}   ${(median(cli) / so).toFixed(2)}x`);
    console.log(`atomic transfer only     ${f(median(xfer))}   ${(median(xfer) / so).toFixed(2)}x   (fetch + verify, no store: like-for-like with skopeo)`);
    console.log(`skopeo copy -> oci:DIR   ${f(so)}   1.00x   (writes the compressed blobs only)`);
    const sso = median(skOstree);
    console.log('');
    console.log(`same work as atomic+skopeo did (skopeo copy, then ostree commit of the layer): ${f(sso).trim()}`);
    console.log(`atomic (pullImage) vs that: ${(median(ours) / sso).toFixed(2)}x   (target <= 1.00)`);
    console.log(`throughput (ours): ${(blobSize / 1048576 / (median(ours) / 1000)).toFixed(1)} MiB/s compressed, ${(fs.statSync(TAR).size / 1048576 / (median(ours) / 1000)).toFixed(1)} MiB/s of tar`);
  } finally {
    for (const w of works) fs.rmSync(w, { recursive: true, force: true });
    spawnSync('bash', [REGISTRY_SH, 'stop'], { env: regEnv, stdio: 'ignore' });
    fs.rmSync(regDir, { recursive: true, force: true });
  }
}

await main();
