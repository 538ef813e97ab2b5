#!/usr/bin/env node
// build-example-image.mjs EXAMPLE_DIR OUT_OCI_DIR
// The layout's single manifest is annotated with the full image name (org.opencontainers.image.ref.name),
// so `atomic pull oci:OUT_OCI_DIR` stores it as NAME:TAG from image.json.
// Builds a small OCI image layout from an exports-examples/<name>/ directory, deterministically:
// layer 1 = /bin/busybox (static) with applet links, /etc/passwd, /tmp; layer 2 = EXAMPLE_DIR/rootfs.
// Used by `npm run demo` and the tests; needs only Node and busybox-static on the host.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import tarStream from 'tar-stream';

const [exampleDir, outDir] = process.argv.slice(2);
if (!exampleDir || !outDir) {
  console.error('usage: build-example-image.mjs EXAMPLE_DIR OUT_OCI_DIR');
  process.exit(2);
}
const meta = JSON.parse(fs.readFileSync(path.join(exampleDir, 'image.json'), 'utf8'));
const APPLETS = ['sh', 'cat', 'echo', 'mkdir', 'sleep', 'httpd', 'ls', 'rm', 'env', 'id', 'true', 'false', 'test', 'sed', 'kill'];

async function buildLayer(addEntries) {
  const pack = tarStream.pack();
  const chunks = [];
  const gz = zlib.createGzip({ level: 6 });
  const raw = createHash('sha256');
  pack.on('data', (d) => raw.update(d));
  pack.pipe(gz);
  gz.on('data', (d) => chunks.push(d));
  const done = new Promise((res) => gz.on('end', res));
  const add = (h, body) => new Promise((res, rej) => pack.entry({ mtime: new Date(0), uid: 0, gid: 0, ...h }, body, (e) => (e ? rej(e) : res())));
  await addEntries(add);
  pack.finalize();
  await done;
  return { blob: Buffer.concat(chunks), diffId: 'sha256:' + raw.digest('hex') };
}

function walk(root, rel = '') {
  const out = [];
  for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
    const r = rel ? `${rel}/${n}` : n;
    const st = fs.lstatSync(path.join(root, r));
    out.push({ r, st });
    if (st.isDirectory()) out.push(...walk(root, r));
  }
  return out;
}

const layers = [];
if (meta.busybox) {
  const bb = fs.readFileSync('/bin/busybox');
  layers.push(await buildLayer(async (add) => {
    await add({ name: 'bin/', type: 'directory', mode: 0o755 });
    await add({ name: 'bin/busybox', mode: 0o755 }, bb);
    for (const a of APPLETS) await add({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox', mode: 0o777 });
    await add({ name: 'etc/', type: 'directory', mode: 0o755 });
    await add({ name: 'etc/passwd', mode: 0o644 }, 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    await add({ name: 'etc/group', mode: 0o644 }, 'root:x:0:\nnobody:x:65534:\n');
    await add({ name: 'tmp/', type: 'directory', mode: 0o1777 });
    await add({ name: 'var/', type: 'directory', mode: 0o755 });
    await add({ name: 'var/run/', type: 'directory', mode: 0o755 });
  }));
}
const rootfs = path.join(exampleDir, 'rootfs');
layers.push(await buildLayer(async (add) => {
  for (const { r, st } of walk(rootfs)) {
    const mode = st.mode & 0o7777;
    if (st.isDirectory()) await add({ name: `${r}/`, type: 'directory', mode });
    else if (st.isSymbolicLink()) await add({ name: r, type: 'symlink', linkname: fs.readlinkSync(path.join(rootfs, r)), mode: 0o777 });
    else await add({ name: r, mode }, fs.readFileSync(path.join(rootfs, r)));
  }
}));

const sha = (b) => 'sha256:' + createHash('sha256').update(b).digest('hex');
fs.rmSync(outDir, { recursive: true, force: true });
const blobs = path.join(outDir, 'blobs', 'sha256');
fs.mkdirSync(blobs, { recursive: true });
const putBlob = (b) => {
  const d = sha(b);
  fs.writeFileSync(path.join(blobs, d.slice(7)), b);
  return d;
};
const config = Buffer.from(JSON.stringify({
  created: '1970-01-01T00:00:00Z',
  architecture: process.arch === 'x64' ? 'amd64' : process.arch,
  os: 'linux',
  config: meta.config,
  rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
}));
const manifest = Buffer.from(JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: putBlob(config), size: config.length },
  layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: putBlob(l.blob), size: l.blob.length })),
}));
const md = putBlob(manifest);
fs.writeFileSync(path.join(outDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
fs.writeFileSync(path.join(outDir, 'index.json'), JSON.stringify({
  schemaVersion: 2,
  manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': `${meta.name}:${meta.tag}` } }],
}));
console.log(`oci:${outDir} ${meta.name}:${meta.tag} ${md}`);
