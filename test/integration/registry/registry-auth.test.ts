/**
 * Registry authentication and TLS against the real registry: htpasswd (Basic), token-server.mjs
 * (Bearer), a TLS registry with a generated CA, registries.conf insecure entries, and the
 * loopback plain-HTTP default.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { OstreeRepo } from '../../../src/store/repo.js';
import { pullImage } from '../../../src/app/images/pull.js';
import { openImageSource } from '../../../src/image/transports.js';
import { RegistrySource } from '../../../src/image/registry/source.js';
import { isAtomicError, type AtomicError } from '../../../src/util/errors.js';
import { BIN, makeTempDir } from '../../helpers/fixtures.js';
import { atomic, cliEnvFor } from '../../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry-server.js';

async function failure(p: Promise<unknown>): Promise<AtomicError> {
  let err: unknown;
  await p.then(() => assert.fail('expected a failure'), (e) => (err = e));
  assert.ok(isAtomicError(err), String(err));
  return err;
}

/** Read every blob of an image through a source (no store involved). */
async function readAll(src: RegistrySource): Promise<number> {
  const m = await src.getManifest();
  let n = 0;
  for (const d of [m.config, ...m.layers]) {
    const s = await src.getBlob(d);
    await new Promise<void>((resolve, reject) => {
      s.on('data', (c: Buffer) => (n += c.length));
      s.on('end', resolve);
      s.on('error', reject);
    });
  }
  return n;
}

function rawGet(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

describe('integration: registry auth and TLS', function () {
  this.timeout(180_000);
  let tmp: string;
  let n = 0;
  const freshRepo = (): Promise<OstreeRepo> => OstreeRepo.openOrCreate(path.join(tmp, `repo-${n++}`), 'bare');
  const emptyConf = (): string => {
    const f = path.join(tmp, 'empty-registries.conf');
    fs.writeFileSync(f, '');
    return f;
  };
  let savedEnv: NodeJS.ProcessEnv;

  before(() => {
    tmp = makeTempDir('atomic-regauth-');
    savedEnv = { ...process.env };
    // No host auth files or registries.conf may influence these tests.
    process.env.CONTAINERS_REGISTRIES_CONF = emptyConf();
    process.env.REGISTRY_AUTH_FILE = path.join(tmp, 'no-auth.json');
    process.env.HOME = path.join(tmp, 'home');
    process.env.ATOMIC_CERTS_D = path.join(tmp, 'no-certs.d');
  });
  after(() => {
    process.env = savedEnv;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('htpasswd (Basic)', () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await startRegistry({ auth: 'htpasswd' });
    });
    after(() => reg?.stop());

    it('right credentials (--src-creds) pull', async () => {
      const repo = await freshRepo();
      const r = await pullImage(repo, `docker://${reg.host}/fixtures/systest:1.0`, { registry: { creds: `${reg.user}:${reg.pass}` } });
      assert.equal(r.layersImported, 2);
    });
    it('missing credentials: unauthorized, check --src-creds; store unchanged', async () => {
      const repo = await freshRepo();
      const e = await failure(pullImage(repo, `docker://${reg.host}/fixtures/systest:1.0`));
      assert.equal(e.code, 'PERMISSION');
      assert.match(e.message, /unauthorized.*check --src-creds/);
      assert.ok(e.message.includes(`${reg.host}/fixtures/systest:1.0`), e.message);
      assert.equal((await repo.listRefs()).size, 0);
    });
    it('wrong credentials: unauthorized, the source of the credentials is named', async () => {
      const repo = await freshRepo();
      const e = await failure(pullImage(repo, `docker://${reg.host}/fixtures/systest:1.0`, { registry: { creds: `${reg.user}:wrong` } }));
      assert.equal(e.code, 'PERMISSION');
      assert.match(e.message, /unauthorized/);
      assert.ok(e.suggestions.some((s) => s.includes('--src-creds')), e.suggestions.join('|'));
      assert.equal((await repo.listRefs()).size, 0);
    });
    it('CLI: credentials from $REGISTRY_AUTH_FILE and from ~/.docker/config.json (base64 auth)', () => {
      const auth = Buffer.from(`${reg.user}:${reg.pass}`).toString('base64');
      const authFile = path.join(tmp, 'auth.json');
      fs.writeFileSync(authFile, JSON.stringify({ auths: { [reg.host]: { auth } } }));
      const home = path.join(tmp, 'home-docker');
      fs.mkdirSync(path.join(home, '.docker'), { recursive: true });
      fs.writeFileSync(path.join(home, '.docker', 'config.json'), JSON.stringify({ auths: { [`http://${reg.host}/fixtures`]: { auth } } }));
      const base = { CONTAINERS_REGISTRIES_CONF: process.env.CONTAINERS_REGISTRIES_CONF!, ATOMIC_CERTS_D: process.env.ATOMIC_CERTS_D! };
      const viaFile = atomic({ ...cliEnvFor(path.join(tmp, 'cli-a')), extra: { ...base, REGISTRY_AUTH_FILE: authFile, HOME: path.join(tmp, 'nohome') } }, ['pull', `docker://${reg.host}/fixtures/base`]);
      assert.equal(viaFile.status, 0, viaFile.stderr);
      assert.match(viaFile.stdout, /Image 127\.0\.0\.1:\d+\/fixtures\/base:latest pulled/);
      const viaDocker = atomic({ ...cliEnvFor(path.join(tmp, 'cli-b')), extra: { ...base, REGISTRY_AUTH_FILE: path.join(tmp, 'absent.json'), HOME: home } }, ['pull', `docker://${reg.host}/fixtures/base`]);
      assert.equal(viaDocker.status, 0, viaDocker.stderr);
      const none = atomic({ ...cliEnvFor(path.join(tmp, 'cli-c')), extra: { ...base, REGISTRY_AUTH_FILE: path.join(tmp, 'absent.json'), HOME: path.join(tmp, 'nohome') } }, ['pull', `docker://${reg.host}/fixtures/base`]);
      assert.notEqual(none.status, 0);
      assert.match(none.stderr, /unauthorized.*check --src-creds/);
      // --src-creds wins over the auth file.
      const wrong = atomic({ ...cliEnvFor(path.join(tmp, 'cli-d')), extra: { ...base, REGISTRY_AUTH_FILE: authFile } }, ['pull', '--src-creds', `${reg.user}:nope`, `docker://${reg.host}/fixtures/base`]);
      assert.notEqual(wrong.status, 0);
      assert.match(wrong.stderr, /unauthorized/);
    });
  });

  describe('token server (Bearer)', () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await startRegistry({ auth: 'token' });
    });
    after(() => reg?.stop());

    it('anonymous pull gets a pull token', async () => {
      const repo = await freshRepo();
      const r = await pullImage(repo, `docker://${reg.host}/fixtures/layered`);
      assert.equal(r.layersImported, 3);
    });
    it('with credentials: one token for the whole pull (reused until it expires)', async () => {
      const src = (await openImageSource(`docker://${reg.host}/fixtures/layered`, { registry: { creds: `${reg.user}:${reg.pass}` } })) as RegistrySource;
      try {
        assert.ok((await readAll(src)) > 1000);
        assert.equal(src.client.tokenRequests, 1);
        assert.equal(await src.client.bearerToken(), await src.client.bearerToken());
        assert.equal(src.client.tokenRequests, 1);
      } finally {
        await src.close();
      }
    });
    it('a token for one repository is refused for another', async () => {
      const src = (await openImageSource(`docker://${reg.host}/fixtures/base`, {})) as RegistrySource;
      try {
        const token = (await src.client.bearerToken())!;
        assert.ok(token);
        const ok = await rawGet(`http://${reg.host}/v2/fixtures/base/manifests/latest`, { Authorization: `Bearer ${token}`, Accept: 'application/vnd.oci.image.manifest.v1+json' });
        assert.equal(ok, 200);
        const other = await rawGet(`http://${reg.host}/v2/fixtures/systest/manifests/1.0`, { Authorization: `Bearer ${token}`, Accept: 'application/vnd.oci.image.manifest.v1+json' });
        assert.equal(other, 401);
      } finally {
        await src.close();
      }
      // Our client asks for a token per repository, so that pull works.
      const r = await pullImage(await freshRepo(), `docker://${reg.host}/fixtures/systest:1.0`);
      assert.equal(r.layersImported, 2);
    });
    it('bad credentials: the token service refuses, check --src-creds; store unchanged', async () => {
      const repo = await freshRepo();
      const e = await failure(pullImage(repo, `docker://${reg.host}/fixtures/base`, { registry: { creds: 'tester:bad' } }));
      assert.equal(e.code, 'PERMISSION');
      assert.match(e.message, /unauthorized.*token service.*check --src-creds/);
      assert.equal((await repo.listRefs()).size, 0);
    });
  });

  describe('TLS', () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await startRegistry({ tls: true });
    });
    after(() => reg?.stop());

    it('the generated CA via a cert dir (--cert-dir): HTTPS pull', async () => {
      const src = (await openImageSource(`docker://${reg.host}/fixtures/systest:1.0`, { registry: { certDir: reg.certDir } })) as RegistrySource;
      try {
        await src.getManifest();
        assert.equal(src.client.baseUrl, `https://${reg.host}`);
      } finally {
        await src.close();
      }
      const r = await pullImage(await freshRepo(), `docker://${reg.host}/fixtures/systest:1.0`, { registry: { certDir: reg.certDir } });
      assert.equal(r.layersImported, 2);
    });
    it('without the CA: refused (no silent fallback to plain HTTP on loopback); store unchanged', async () => {
      const repo = await freshRepo();
      const e = await failure(pullImage(repo, `docker://${reg.host}/fixtures/systest:1.0`));
      assert.equal(e.code, 'PERMISSION');
      assert.match(e.message, /TLS certificate of registry 127\.0\.0\.1:\d+ not trusted/);
      assert.ok(e.suggestions.some((s) => s.includes(`/etc/containers/certs.d/${reg.host}/ca.crt`)));
      assert.equal((await repo.listRefs()).size, 0);
    });
    it('CLI: certs.d/HOST:PORT/ca.crt (root from $ATOMIC_CERTS_D), --cert-dir, and --tls-verify=false', () => {
      const certsD = path.join(tmp, 'certs.d');
      fs.mkdirSync(path.join(certsD, reg.host), { recursive: true });
      fs.copyFileSync(path.join(reg.certDir, 'ca.crt'), path.join(certsD, reg.host, 'ca.crt'));
      const extra = { CONTAINERS_REGISTRIES_CONF: process.env.CONTAINERS_REGISTRIES_CONF!, REGISTRY_AUTH_FILE: process.env.REGISTRY_AUTH_FILE! };
      const ok = atomic({ ...cliEnvFor(path.join(tmp, 'tls-a')), extra: { ...extra, ATOMIC_CERTS_D: certsD } }, ['pull', `docker://${reg.host}/fixtures/base`]);
      assert.equal(ok.status, 0, ok.stderr);
      const dir = atomic({ ...cliEnvFor(path.join(tmp, 'tls-b')), extra: { ...extra, ATOMIC_CERTS_D: path.join(tmp, 'none') } }, ['pull', '--cert-dir', reg.certDir, `docker://${reg.host}/fixtures/base`]);
      assert.equal(dir.status, 0, dir.stderr);
      const refused = atomic({ ...cliEnvFor(path.join(tmp, 'tls-c')), extra: { ...extra, ATOMIC_CERTS_D: path.join(tmp, 'none') } }, ['pull', `docker://${reg.host}/fixtures/base`]);
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, /not trusted/);
      const noVerify = atomic({ ...cliEnvFor(path.join(tmp, 'tls-d')), extra: { ...extra, ATOMIC_CERTS_D: path.join(tmp, 'none') } }, ['pull', '--tls-verify=false', `docker://${reg.host}/fixtures/base`]);
      assert.equal(noVerify.status, 0, noVerify.stderr);
      const httpPrefix = atomic({ ...cliEnvFor(path.join(tmp, 'tls-e')), extra: { ...extra, ATOMIC_CERTS_D: path.join(tmp, 'none') } }, ['pull', `http:${reg.host}/fixtures/base`]);
      assert.equal(httpPrefix.status, 0, httpPrefix.stderr);
    });
    it('CLI through its launcher (bin/run.js executed, as npm links it): the CA from NODE_EXTRA_CA_CERTS, which node no longer loads at start-up', () => {
      const ck = cliEnvFor(path.join(tmp, 'tls-f'));
      const env: NodeJS.ProcessEnv = { ...process.env, ATOMIC_OSTREE_REPO: ck.repo, ATOMIC_OSTREE_CHECKOUT_PATH: ck.checkout, ATOMIC_CONF: '/nonexistent/atomic.conf', ATOMIC_CERTS_D: path.join(tmp, 'none') };
      delete env.ATOMIC_NODE_EXTRA_CA_CERTS;
      const run = (caFile: string | undefined) => {
        const e = { ...env };
        if (caFile) e.NODE_EXTRA_CA_CERTS = caFile;
        else delete e.NODE_EXTRA_CA_CERTS;
        return spawnSync(BIN, ['pull', `docker://${reg.host}/fixtures/base`], { encoding: 'utf8', env: e, timeout: 120_000 });
      };
      const refused = run(undefined);
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, /not trusted/);
      const ok = run(path.join(reg.certDir, 'ca.crt'));
      assert.equal(ok.status, 0, ok.stderr);
      assert.equal(ok.stderr, '');
    });
    it('registries.conf [[registry]] insecure = true skips verification for that registry', async () => {
      const conf = path.join(tmp, 'insecure.conf');
      fs.writeFileSync(conf, `# test\nunqualified-search-registries = []\n\n[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`);
      process.env.CONTAINERS_REGISTRIES_CONF = conf;
      try {
        const r = await pullImage(await freshRepo(), `docker://${reg.host}/fixtures/base`);
        assert.equal(r.layersImported, 1);
      } finally {
        process.env.CONTAINERS_REGISTRIES_CONF = emptyConf();
      }
    });
  });

  describe('plain HTTP', () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await startRegistry({ push: true });
    });
    after(() => reg?.stop());

    it('a loopback registry is reached over plain HTTP by default, but not with --tls-verify=true', async () => {
      const src = (await openImageSource(`docker://${reg.host}/fixtures/base`, {})) as RegistrySource;
      try {
        await src.getManifest();
        assert.equal(src.client.baseUrl, `http://${reg.host}`);
      } finally {
        await src.close();
      }
      const e = await failure(pullImage(await freshRepo(), `docker://${reg.host}/fixtures/base`, { registry: { tlsVerify: true } }));
      assert.equal(e.code, 'IO');
      assert.match(e.message, /does not speak TLS/);
    });
    it('the http: and https: prefixes', async () => {
      const r = await pullImage(await freshRepo(), `http:${reg.host}/fixtures/base`);
      assert.equal(r.imageName, `${reg.host}/fixtures/base:latest`);
      const r2 = await pullImage(await freshRepo(), `https://${reg.host}/fixtures/base`);
      assert.equal(r2.imageName, `${reg.host}/fixtures/base:latest`);
    });
  });
});
