/**
 * `atomic pull` / `atomic images update` against the real registry, as child processes:
 * a pull SIGKILLed halfway and re-run, image updates, unqualified names through
 * registries.conf, an unreachable registry, and bounded retries of 5xx answers.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { OstreeRepo } from '../../../src/store/repo.js';
import { readImage } from '../../../src/app/images/pull.js';
import { imageRef, layerRef } from '../../../src/image/stored-image.js';
import { BIN, fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { atomic, cliEnvFor, type CliEnv } from '../../helpers/cli.js';
import { blobRequests, startRegistry, type TestRegistry } from '../../helpers/registry-server.js';

const short = (d: string): string => d.slice(0, 'sha256:'.length + 12);

/** Like atomic() but asynchronous, for tests that serve requests from this process meanwhile. */
function atomicAsync(env: CliEnv, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ATOMIC_OSTREE_REPO: env.repo, ATOMIC_OSTREE_CHECKOUT_PATH: env.checkout, ATOMIC_CONF: '/nonexistent/atomic.conf', ...(env.extra ?? {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ status: code ?? -1, stdout, stderr });
    });
  });
}

function fsck(repo: string): void {
  const out = execFileSync('ostree', ['fsck', `--repo=${repo}`], { env: { ...process.env, LC_ALL: 'C.UTF-8' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(out, /no errors found/);
}

describe('integration: registry CLI', function () {
  this.timeout(180_000);
  let fx: string;
  let reg: TestRegistry;
  let tmp: string;
  let emptyConf: string;
  let n = 0;
  const envFor = (extra: Record<string, string> = {}): CliEnv => ({
    ...cliEnvFor(path.join(tmp, `cli-${n++}`)),
    extra: { CONTAINERS_REGISTRIES_CONF: emptyConf, REGISTRY_AUTH_FILE: path.join(tmp, 'none.json'), ATOMIC_CERTS_D: path.join(tmp, 'none'), ...extra },
  });

  before(async () => {
    fx = fixtureImages();
    tmp = makeTempDir('atomic-regcli-');
    emptyConf = path.join(tmp, 'empty.conf');
    fs.writeFileSync(emptyConf, '');
    reg = await startRegistry();
  });
  after(() => {
    reg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a pull killed halfway (SIGKILL) keeps the finished layers (a later one imported while an earlier one downloads), no partial commit or ref; the re-run fetches only what is missing', async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(fx, 'expected', 'layered.manifest.json'), 'utf8')) as { layers: Array<{ digest: string }> };
    const [l0, l1, l2] = manifest.layers.map((l) => l.digest) as [string, string, string];
    const env = envFor();
    const src = `docker://${reg.host}/fixtures/layered:latest`;
    const child = spawn(process.execPath, [BIN, 'pull', src], {
      env: { ...process.env, ATOMIC_OSTREE_REPO: env.repo, ATOMIC_OSTREE_CHECKOUT_PATH: env.checkout, ATOMIC_CONF: '/nonexistent', ...env.extra, ATOMIC_FAULT_REGISTRY_STALL: l1 },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
    // Layers are fetched in parallel: layer 2 is committed while layer 1 stalls halfway.
    const l2Ref = path.join(env.repo, 'refs', 'heads', layerRef(l2));
    for (let i = 0; !(out.includes(`Extracting ${short(l1)}`) && fs.existsSync(l2Ref)); i++) {
      assert.ok(i < 600, `layer 2 was not committed while layer 1 stalled:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assert.ok(out.includes(`Copying blob ${short(l0)} done`), out);
    // the output stays in manifest order: nothing of layer 2 before layer 1 is done
    assert.ok(!out.includes(short(l2)), out);

    const repo = await OstreeRepo.open(env.repo);
    assert.ok(await repo.resolveRef(layerRef(l0)), 'the finished layer is kept');
    assert.equal(await repo.resolveRef(layerRef(l1)), null, 'no commit for the interrupted layer');
    assert.ok(await repo.resolveRef(layerRef(l2)), 'the layer finished in parallel is kept');
    assert.equal(await repo.resolveRef(imageRef(`${reg.host}/fixtures/layered:latest`)), null, 'no image ref');

    const before = blobRequests(reg).length;
    const again = atomic(env, ['pull', src]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`Skipping blob ${short(l0)} \\(already present\\)`));
    assert.match(again.stdout, new RegExp(`^Copying blob ${short(l1)}$`, 'm'));
    assert.match(again.stdout, new RegExp(`Skipping blob ${short(l2)} \\(already present\\)`));
    // The missing layer and the config (stored only with the image) are fetched, nothing else.
    const fetched = blobRequests(reg).slice(before);
    assert.equal(fetched.length, 2, fetched.join('\n'));
    assert.ok(fetched.some((l) => l.includes(l1)));
    fsck(env.repo);
    const img = await readImage(await OstreeRepo.open(env.repo), `${reg.host}/fixtures/layered:latest`);
    assert.deepEqual(
      img.layers.map((l) => l.digest),
      [l0, l1, l2],
    );
    assert.ok(img.layers.every((l) => l.commit));
  });

  it('images update: up to date (no blob fetched), then changed after a push; --all skips unqualified names', () => {
    const env = envFor();
    const name = `${reg.host}/fixtures/upd:1.0`;
    const skopeo = (from: string): void => {
      execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', from, `docker://${name}`], { stdio: 'ignore' });
    };
    skopeo(`oci:${fx}/oci:systest`);
    const first = atomic(env, ['pull', `docker://${name}`]);
    assert.equal(first.status, 0, first.stderr);
    const local = atomic(env, ['pull', `oci:${fx}/oci:base`]);
    assert.equal(local.status, 0, local.stderr);

    let before = blobRequests(reg).length;
    const same = atomic(env, ['images', 'update', name]);
    assert.equal(same.status, 0, same.stderr);
    assert.match(same.stdout, new RegExp(`Image ${name.replace(/\./g, '\\.')} is already up to date`));
    assert.equal(blobRequests(reg).length, before, 'no blob downloaded for a current image');

    skopeo(`oci:${fx}/oci:systest-update`);
    before = blobRequests(reg).length;
    const changed = atomic(env, ['images', 'update', name]);
    assert.equal(changed.status, 0, changed.stderr);
    assert.match(changed.stdout, /updated: sha256:[0-9a-f]{64} -> sha256:[0-9a-f]{64}/);
    assert.match(changed.stdout, /Skipping blob sha256:[0-9a-f]{12} \(already present\)/);
    assert.equal(blobRequests(reg).length - before, 2, 'the new layer and the new config');

    const all = atomic(env, ['images', 'update', '--all']);
    assert.equal(all.status, 0, all.stderr);
    assert.match(all.stderr, /Image base:latest not fully qualified: skipping/);
    assert.match(all.stdout, /is already up to date/);
    // atomic's progress line per image and its SUMMARY table (exit 0)
    const lines = all.stdout.split('\n');
    assert.ok(lines.includes(`Checking image ${name}...`), all.stdout);
    assert.ok(!lines.includes('Checking image base:latest...'), 'unqualified names are skipped');
    const i = lines.indexOf('SUMMARY');
    assert.ok(i > 0 && lines[i - 1] === '' && lines[i + 1] === '', all.stdout);
    assert.equal(lines[i + 2], `${'Image'.padEnd(50)} ${'Image ID before update'.padEnd(32)} ${'Image ID after update'.padEnd(32)} Status         `);
    assert.match(lines.slice(i + 3).find((l) => l.startsWith(`${name} `)) ?? '', new RegExp(`^${name.replace(/\./g, '\\.')} {${50 - name.length + 1}}([0-9a-f]{32}) \\1 Updated {8}$`));
  });

  it('unqualified names warn and resolve through unqualified-search-registries; a clear error without one', async () => {
    const conf = path.join(tmp, 'search.conf');
    fs.writeFileSync(conf, `unqualified-search-registries = ["${reg.host}", "other.example.com"]\n`);
    const env = envFor({ CONTAINERS_REGISTRIES_CONF: conf });
    const r = atomic(env, ['pull', 'fixtures/systest:1.0']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stderr.includes('The image `fixtures/systest:1.0` is not fully qualified.  The default registry configured for Skopeo will be used.'), r.stderr);
    assert.match(r.stdout, /Image fixtures\/systest:1\.0 pulled/);
    const o = atomic(env, ['pull', 'oci:fixtures/base']);
    assert.equal(o.status, 0, o.stderr);
    assert.match(o.stderr, /The image `fixtures\/base` is not fully qualified/);
    const img = await readImage(await OstreeRepo.open(env.repo), 'fixtures/systest:1.0');
    assert.equal(img.layers.length, 2);

    const none = atomic(envFor(), ['pull', 'fixtures/systest:1.0']);
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, /not fully qualified/);
    assert.match(none.stderr, /no default registry is configured/);
  });

  it('an unreachable registry and an unknown image fail with exit != 0, naming the image; store unchanged', async () => {
    const dead = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const env = envFor();
    const r = atomic(env, ['pull', `docker://127.0.0.1:${dead}/fixtures/base`]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`cannot reach registry 127\\.0\\.0\\.1:${dead}`));
    const u = atomic(env, ['pull', `docker://${reg.host}/fixtures/missing:1`]);
    assert.equal(u.status, 3);
    assert.match(u.stderr, /manifest unknown/);
    assert.ok(u.stderr.includes(`${reg.host}/fixtures/missing:1`), u.stderr);
    const repo = await OstreeRepo.openOrCreate(env.repo, 'bare');
    assert.equal((await repo.listRefs()).size, 0);
  });

  it('5xx answers and dropped connections get a bounded retry with backoff', async () => {
    // A fault-injecting proxy in front of the real registry: the first 2 requests of every path
    // get 503 / a reset connection.
    const seen = new Map<string, number>();
    let failures = 0;
    let mode: 'flaky' | 'down' = 'flaky';
    const proxy = http.createServer((req, res) => {
      const k = req.url ?? '';
      const count = (seen.get(k) ?? 0) + 1;
      seen.set(k, count);
      if (mode === 'down' || count <= 2) {
        failures++;
        if (count % 2 === 1 || mode === 'down') {
          res.writeHead(503, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}');
        } else req.socket.destroy();
        return;
      }
      const up = http.request({ host: '127.0.0.1', port: reg.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const port = (proxy.address() as net.AddressInfo).port;
    try {
      const env = envFor({ ATOMIC_REGISTRY_RETRY_DELAY_MS: '20' });
      const ok = await atomicAsync(env, ['pull', `docker://127.0.0.1:${port}/fixtures/systest:1.0`]);
      assert.equal(ok.status, 0, ok.stderr);
      assert.ok(failures >= 8, `faults injected: ${failures}`);
      mode = 'down';
      const before = failures;
      const down = await atomicAsync(envFor({ ATOMIC_REGISTRY_RETRY_DELAY_MS: '20' }), ['pull', `docker://127.0.0.1:${port}/fixtures/base`]);
      assert.notEqual(down.status, 0);
      assert.match(down.stderr, /HTTP 503/);
      assert.equal(failures - before, 4, 'the probe: 1 try + 3 retries');
    } finally {
      proxy.close();
    }
  });
});
