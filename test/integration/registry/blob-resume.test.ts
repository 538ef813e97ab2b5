/**
 * A blob download cut mid-stream (issue 12, item 13): resumed with a Range request where the
 * registry answers 206, downloaded again (prefix skipped) where it ignores Range, and after the
 * retries an error naming the blob, how far it got and the cause. The registry is a node:http
 * server on 127.0.0.1 that resets the connection half-way; the image is built here.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as tar from 'tar-stream';
import { spawn } from 'node:child_process';
import { cliEnvFor, type CliResult } from '../../helpers/cli.js';
import { BIN, makeTempDir } from '../../helpers/fixtures.js';

/** The CLI without blocking this process (the registry runs in it). */
function atomic(env: ReturnType<typeof cliEnvFor>, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ATOMIC_OSTREE_REPO: env.repo, ATOMIC_OSTREE_CHECKOUT_PATH: env.checkout, ATOMIC_CONF: '/nonexistent/atomic.conf' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function layerTar(): Promise<Buffer> {
  const p = tar.pack();
  // incompressible-ish content so the gzip blob is large enough to cut in the middle
  const data = Buffer.alloc(400_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  p.entry({ name: 'data.bin', mode: 0o644, mtime: new Date(0) }, data);
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('registry blob downloads cut mid-stream', function () {
  this.timeout(120_000);
  let server: http.Server;
  let host: string;
  let tmp: string;
  let hostile = 0;
  const requests: Array<{ repo: string; range?: string }> = [];
  let layer: Buffer;
  let layerDigest: string;
  let config: Buffer;
  let manifest: Buffer;

  before(async () => {
    tmp = makeTempDir('atomic-blobcut-');
    const t = await layerTar();
    layer = zlib.gzipSync(t, { level: 1 });
    layerDigest = sha(layer);
    config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha(t)] } }));
    manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
    }));
    server = http.createServer((req, res) => {
      const u = req.url ?? '';
      if (u === '/v2/') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      const m = /^\/v2\/([^/]+)\/(manifests|blobs)\/(.+)$/.exec(u);
      if (!m) return void res.writeHead(404).end();
      const [, repo, kind, ref] = m;
      if (kind === 'manifests') return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(manifest.length) }).end(req.method === 'HEAD' ? undefined : manifest);
      if (ref === sha(config)) return void res.writeHead(200, { 'content-length': String(config.length) }).end(config);
      if (ref !== layerDigest) return void res.writeHead(404).end();
      requests.push({ repo, range: req.headers.range });
      const n = requests.filter((r) => r.repo === repo).length;
      const cut = repo === 'always' || n === 1;
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      let body = layer;
      if (repo === 'range' && range) {
        const from = Number(range[1]);
        body = layer.subarray(from);
        res.writeHead(206, { 'content-length': String(body.length), 'content-range': `bytes ${from}-${layer.length - 1}/${layer.length}` });
      } else {
        res.writeHead(200, { 'content-length': String(layer.length) });
      }
      if (!cut) return void res.end(body);
      // half of it, then a reset
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => req.socket.resetAndDestroy(), 50));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
    console.log(`      blob downloads: ${hostile} hostile cases`);
  });

  it('resumes with a Range request where the registry answers 206', async () => {
    hostile++;
    const r = await atomic(cliEnvFor(path.join(tmp, 'a')), ['pull', `docker://${host}/range:latest`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`Download of blob ${layerDigest} .* interrupted after \\d+ of ${layer.length} bytes .*resuming \\(1/3\\)`));
    const mine = requests.filter((q) => q.repo === 'range');
    assert.equal(mine.length, 2);
    assert.match(mine[1].range ?? '', /^bytes=[1-9]\d*-$/);
    assert.equal((await atomic(cliEnvFor(path.join(tmp, 'a')), ['images', 'verify', `${host}/range:latest`])).status, 0);
  });

  it('downloads the blob again, skipping what it has, where the registry ignores Range', async () => {
    hostile++;
    const r = await atomic(cliEnvFor(path.join(tmp, 'b')), ['pull', `docker://${host}/norange:latest`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /resuming \(1\/3\)/);
    assert.equal((await atomic(cliEnvFor(path.join(tmp, 'b')), ['images', 'verify', `${host}/norange:latest`])).status, 0);
  });

  it('gives up after 3 resumptions with an error naming the blob, the progress and the cause', async () => {
    hostile++;
    const r = await atomic(cliEnvFor(path.join(tmp, 'c')), ['pull', `docker://${host}/always:latest`]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`(Error|Failed): .*Download of blob ${layerDigest} of ${host.replace(/\./g, '\\.')}/always:latest failed after \\d+ of ${layer.length} bytes: .*(reset|aborted|closed).*gave up after 3 resumptions`));
    assert.equal(requests.filter((q) => q.repo === 'always').length, 4);
    assert.equal((await atomic(cliEnvFor(path.join(tmp, 'c')), ['images', 'list', '-q'])).stdout.trim(), '', 'no image stored');
  });
});
