/**
 * Test helper: the /exports files of a fixture image (from `fixtureImages()`/oci), read straight
 * from the image's top layer blob (gzip tar) with a tiny synchronous ustar/pax reader, and the
 * hello-web example's exports from the project tree.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fixtureImages, PROJECT_ROOT } from '../../helpers/fixtures.js';

function blobPath(layout: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return path.join(layout, 'blobs', alg, hex);
}

function cstr(buf: Buffer, start: number, len: number): string {
  const b = buf.subarray(start, start + len);
  const z = b.indexOf(0);
  return (z >= 0 ? b.subarray(0, z) : b).toString('utf8');
}

/** Regular files of a tar (name without a leading "./") → content. */
export function readTar(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let off = 0;
  let paxPath: string | undefined;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    let name = cstr(h, 0, 100);
    const size = parseInt(cstr(h, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(h[156] || 0x30);
    const prefix = cstr(h, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
    const data = tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'));
      paxPath = m ? m[1] : undefined;
      continue;
    }
    if (type === 'g') continue;
    if (paxPath !== undefined) {
      name = paxPath;
      paxPath = undefined;
    }
    if (type === '0' || type === '\0') files.set(name.replace(/^\.\//, ''), Buffer.from(data));
  }
  return files;
}

/** The files under exports/ of the top layer of `oci:<ref>` in the shared fixtures (relative names). */
export function fixtureExports(ref: string): Map<string, string> {
  const layout = path.join(fixtureImages(), 'oci');
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref);
  if (!desc) throw new Error(`fixture oci:${ref} not found`);
  const manifest = JSON.parse(fs.readFileSync(blobPath(layout, desc.digest), 'utf8')) as { layers: { digest: string }[] };
  const out = new Map<string, string>();
  for (const layer of manifest.layers) {
    for (const [name, data] of readTar(gunzipSync(fs.readFileSync(blobPath(layout, layer.digest))))) {
      if (name.startsWith('exports/')) out.set(name.slice('exports/'.length), data.toString('utf8'));
    }
  }
  return out;
}

/** exports-examples/hello-web/rootfs/exports/<name>. */
export function helloWebExport(name: string): string {
  return fs.readFileSync(path.join(PROJECT_ROOT, 'exports-examples', 'hello-web', 'rootfs', 'exports', name), 'utf8');
}

export const RENDER_FIXTURES = path.join(PROJECT_ROOT, 'test', 'fixtures', 'render');

/** Compare with a golden file; UPDATE_GOLDEN=1 rewrites it. */
export function golden(name: string, actual: string): string {
  const p = path.join(RENDER_FIXTURES, name);
  if (process.env.UPDATE_GOLDEN === '1' || !fs.existsSync(p)) {
    if (process.env.UPDATE_GOLDEN !== '1') throw new Error(`golden file ${p} is missing (run with UPDATE_GOLDEN=1 to create it)`);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, actual);
  }
  return fs.readFileSync(p, 'utf8');
}
