/**
 * Hostile input at the CLI: container names, image references and template values (--set) that
 * would escape a directory, break a unit file or JSON, or inject directives. Each must get a clear
 * error and a non-zero exit, or (values inside a JSON string) be escaped so that they stay one
 * value; nothing may be written outside the sysroot's own places. Registry-side hostile answers
 * (redirect loop, a 5 GB Content-Length, a slow-loris body) are served by a tiny node:http
 * server on 127.0.0.1.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fixtureImages, makeTempDir, BIN } from '../../helpers/fixtures.js';
import { atomicSysroot } from '../../helpers/cli.js';
import { deployState, treeListing, CK } from '../../helpers/deploy-state.js';

describe('hostile input at the CLI: names, references, template values, registries', function () {
  this.timeout(180_000);
  let fx: string;
  let work: string;
  let S: string;
  let outside: string;
  let listingBefore: string[];
  const a = (args: string[], extra: Record<string, string> = {}) => atomicSysroot(S, args, extra);
  const sysrootListing = () => treeListing(S, [`${CK}/.storage`, `${CK}/.atomic`]);

  before(() => {
    fx = fixtureImages();
    work = makeTempDir('atomic-hostile-cli-');
    S = path.join(work, 'sysroot');
    outside = path.join(work, 'outside');
    fs.mkdirSync(outside);
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
    assert.equal(a(['pull', `oci:${fx}/oci:systest`]).status, 0);
    listingBefore = sysrootListing();
  });
  afterEach(() => {
    // nothing outside the sysroot, nothing new inside it (apart from the store and our state dir)
    assert.deepEqual(fs.readdirSync(outside), [], 'nothing written outside');
    assert.deepEqual(fs.readdirSync(work).sort(), ['outside', 'sysroot']);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  function refused(args: string[], re: RegExp, extra: Record<string, string> = {}): void {
    const r = a(args, extra);
    assert.notEqual(r.status, 0, `expected a failure: ${r.stdout}`);
    assert.match(r.stderr, re);
    assert.match(r.stderr, /^Error: /m);
    assert.deepEqual(sysrootListing(), listingBefore, 'the sysroot is unchanged');
  }

  const names: [string, string][] = [
    ['../x (directory escape)', '../x'],
    [`../../${'outside'}/pwned`, '../../outside/pwned'],
    ['a/b (a slash)', 'a/b'],
    ['a newline', 'evil\nExecStartPre=/bin/false'],
    ['a very long name (300 chars)', 'n'.repeat(300)],
    ['a host unit name (precious.service)', 'precious.service'],
    ['a target name (multi-user.target)', 'multi-user.target'],
    ['"@" (runc refuses it at start)', 'svc@1'],
    ['a leading dash', '-rf'],
    ['an empty name', ''],
  ];
  for (const [what, n] of names) {
    it(`container name: ${what} → usage error`, () => {
      refused(['install', '--system', '--name', n, 'systest'], /invalid container name|Expected|requires a value|Flag --name/);
    });
  }
  it('container name: ../x on update, rollback and uninstall is refused too (nothing removed)', () => {
    for (const args of [['containers', 'update', '../x'], ['containers', 'rollback', '../x'], ['uninstall', '../../etc']]) {
      const r = a(args);
      assert.notEqual(r.status, 0, `${args.join(' ')} must fail`);
      assert.deepEqual(sysrootListing(), listingBefore);
    }
  });

  const refs: [string, string, RegExp][] = [
    ['an oci: layout path with a newline', 'oci:/tmp/x\ny:tag', /Error: /],
    ['a store name with ..', '../../etc/passwd', /Error: /],
    ['a docker:// reference with ..', 'docker://127.0.0.1:1/../../etc/passwd', /Error: /],
    ['a reference with a NUL-like control char', 'systest\u0001:latest', /Error: /],
    ['a very long reference', `docker://127.0.0.1:1/${'a/'.repeat(3000)}x`, /Error: /],
  ];
  for (const [what, ref, re] of refs) {
    it(`image reference: ${what} → clear error, nothing written`, () => {
      refused(['install', '--system', '--name', 'h1', ref], re, { ATOMIC_REGISTRY_TIMEOUT_MS: '2000' });
    });
  }

  const values: [string, string, RegExp][] = [
    ['a newline that would add a unit directive', 'RECEIVER=x\nExecStartPre=/bin/touch /tmp/pwned', /cannot be used in the template file .*newline/],
    ['a carriage return', 'RECEIVER=x\rExecStartPre=/bin/false', /carriage return/],
    ['a trailing backslash (line continuation)', 'RECEIVER=x\\', /backslash/],
    ['a value for a tmpfiles field with a space (field shift)', 'STATE_DIRECTORY=/var/lib /etc', /shift the fields/],
    ['an invalid variable name', 'A-B=1', /Invalid variable name/],
    ['no "=" at all', 'JUSTTEXT', /Expected form NAME=VALUE/],
  ];
  for (const [what, set, re] of values) {
    it(`--set: ${what} → refused`, () => {
      refused(['install', '--system', '--name', 'h2', '--set', set, 'systest'], re);
    });
  }

  it('--set: quotes, $ and backslashes inside a JSON string stay one value (config.json valid, unit intact)', () => {
    const evil = `M"a}rs\\", "x": "$NAME $$ \${PORT`;
    const r = a(['install', '--system', '--name', 'h3', '--set', `RECEIVER=${evil}`, 'systest']);
    // the unit's Description gets the value too: quotes are fine there, so the install succeeds
    assert.equal(r.status, 0, r.stderr);
    const cfg = JSON.parse(fs.readFileSync(path.join(S, CK, 'h3.0', 'config.json'), 'utf8')) as { process: { env: string[] } };
    assert.ok(cfg.process.env.includes(`RECEIVER=${evil}`), 'the value arrived literally, as one env entry');
    assert.equal(cfg.process.env.filter((e) => e.startsWith('x=')).length, 0);
    assert.deepEqual(deployState(S, 'h3').problems, []);
    assert.equal(a(['uninstall', 'h3']).status, 0);
    // tmpfiles `d` directories stay after `systemd-tmpfiles --remove` (only D/R lines are removed), as with atomic
    for (const d of ['run/h3', 'var/lib/h3']) fs.rmdirSync(path.join(S, d));
    assert.deepEqual(sysrootListing(), listingBefore);
  });

  describe('hostile registries (a node:http server on 127.0.0.1)', () => {
    let server: http.Server;
    let host: string;
    const hits: Record<string, number> = {};
    before(async () => {
      server = http.createServer((req, res) => {
        const u = req.url ?? '';
        hits[u] = (hits[u] ?? 0) + 1;
        if (u === '/v2/') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        if (u.startsWith('/v2/loop/')) return void res.writeHead(302, { location: `/v2/loop/manifests/again-${hits[u]}` }).end();
        if (u.startsWith('/v2/huge/') && u.includes('/manifests/')) {
          if (req.method === 'HEAD') return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(5 * 1024 ** 3) }).end();
          // announces 5 GB, then streams zeros forever
          res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(5 * 1024 ** 3) });
          const chunk = Buffer.alloc(64 * 1024, 0x20);
          const pump = () => {
            while (res.write(chunk)) {
              /* fill the socket */
            }
          };
          res.on('drain', pump);
          pump();
          req.on('close', () => res.destroy());
          return;
        }
        if (u.startsWith('/v2/drip/') && u.includes('/manifests/')) {
          // a drip just fast enough to never trip the 3 s inactivity timeout: 1 byte / 1 s, never finishing
          res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': '100000' });
          res.write(' ');
          const t = setInterval(() => res.write(' '), 1000);
          req.on('close', () => clearInterval(t));
          return;
        }
        if (u.startsWith('/v2/slow/') && u.includes('/manifests/')) {
          if (req.method === 'HEAD') return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': '100000' }).end();
          // slow loris: headers, then one byte every 5 s (the client's inactivity timeout is 3 s here), never finishing
          res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': '100000' });
          res.write(' ');
          const t = setInterval(() => res.write(' '), 5000);
          req.on('close', () => clearInterval(t));
          return;
        }
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => {
      server.closeAllConnections();
      server.close();
    });

    /** pull through the CLI with a hard wall-clock guard (a hang is a failure, not a pass). */
    function pull(ref: string, guardMs: number): Promise<{ status: number; stderr: string; ms: number }> {
      const env: NodeJS.ProcessEnv = { ...process.env, ATOMIC_SYSROOT: S, ATOMIC_REGISTRY_TIMEOUT_MS: '3000' };
      for (const k of ['ATOMIC_OSTREE_REPO', 'ATOMIC_OSTREE_CHECKOUT_PATH', 'ATOMIC_CONF']) delete env[k];
      return new Promise((resolve) => {
        const t0 = Date.now();
        const c = spawn(process.execPath, [BIN, 'pull', ref], { env, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        const guard = setTimeout(() => c.kill('SIGKILL'), guardMs);
        c.on('close', (code) => {
          clearTimeout(guard);
          resolve({ status: code ?? 137, stderr, ms: Date.now() - t0 });
        });
      });
    }

    it('a redirect loop → "too many redirects", exit != 0, nothing stored', async () => {
      const r = await pull(`docker://${host}/loop/img:latest`, 60_000);
      assert.notEqual(r.status, 0);
      assert.notEqual(r.status, 137, 'it must not hang');
      assert.match(r.stderr, /too many redirects/);
      assert.deepEqual(sysrootListing(), listingBefore);
    });

    it('a 5 GB Content-Length on the manifest → refused without reading it all, nothing stored', async () => {
      const r = await pull(`docker://${host}/huge/img:latest`, 60_000);
      assert.notEqual(r.status, 0);
      assert.notEqual(r.status, 137, `it must not hang (${r.ms} ms)`);
      assert.match(r.stderr, /too large|exceeds|larger than|limit/i);
      assert.deepEqual(sysrootListing(), listingBefore);
    });

    it('a slow-loris manifest body (1 byte / 5 s) → a timeout error, exit != 0, nothing stored', async () => {
      const r = await pull(`docker://${host}/slow/img:latest`, 60_000);
      assert.notEqual(r.status, 0);
      assert.notEqual(r.status, 137, `it must not hang (${r.ms} ms): ${r.stderr}`);
      // the timeout surfaces as "aborted" (wording of src/image/registry; "no data for N ms" would be clearer)
      assert.match(r.stderr, /no data|timed? ?out|too slow|aborted/i);
      assert.match(r.stderr, /slow\/img/, "the error names the image");
      assert.deepEqual(sysrootListing(), listingBefore);
    });

    it('a slow-loris body dripping faster than the inactivity timeout (1 byte / 1 s) → "too slow", exit != 0, nothing stored', async () => {
      const r = await pull(`docker://${host}/drip/img:latest`, 90_000);
      assert.notEqual(r.status, 0);
      assert.notEqual(r.status, 137, `it must not hang (${r.ms} ms): ${r.stderr}`);
      assert.match(r.stderr, /too slow|aborted/i);
      assert.match(r.stderr, /drip\/img/, 'the error names the image');
      assert.deepEqual(sysrootListing(), listingBefore);
    });
  });
});
