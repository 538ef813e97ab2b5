import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseWwwAuthenticate } from '../../../../src/image/registry/www-authenticate.js';
import { findRegistryEntry, loadRegistriesConf, parseToml } from '../../../../src/image/registry/registries-conf.js';
import { findCredentials, lookupAuthFile, parseCreds } from '../../../../src/image/registry/credentials.js';
import { isLoopbackHost } from '../../../../src/image/registry/tls-config.js';
import { apiHostAndRepo } from '../../../../src/image/registry/client.js';
import { registryOptionsFromFlags } from '../../../../src/image/registry/cli-flags.js';
import { isAtomicError } from '../../../../src/util/errors.js';

describe('unit: registry parsing', () => {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-regunit-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('WWW-Authenticate: Bearer with quoted params, several challenges, Basic', () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="http://127.0.0.1:5001/token",service="fixture-registry",scope="repository:a/b:pull"'), [
      { scheme: 'bearer', params: { realm: 'http://127.0.0.1:5001/token', service: 'fixture-registry', scope: 'repository:a/b:pull' } },
    ]);
    assert.deepEqual(parseWwwAuthenticate('Basic realm="fixture-registry"'), [{ scheme: 'basic', params: { realm: 'fixture-registry' } }]);
    assert.deepEqual(parseWwwAuthenticate('Basic realm="a, b", Bearer realm=https://x/t, error="insufficient_scope"').map((c) => [c.scheme, c.params]), [
      ['basic', { realm: 'a, b' }],
      ['bearer', { realm: 'https://x/t', error: 'insufficient_scope' }],
    ]);
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="a\\"b"')[0]!.params.realm, 'a"b');
    assert.deepEqual(parseWwwAuthenticate(undefined), []);
    assert.deepEqual(parseWwwAuthenticate('=bad'), []);
  });

  it('registries.conf v2: unqualified-search-registries and [[registry]] entries; drop-ins; longest prefix', () => {
    const f = path.join(tmp, 'registries.conf');
    fs.writeFileSync(f, [
      '# comment',
      'unqualified-search-registries = [ "registry.example.com", # first',
      "  'docker.io' ]",
      'short-name-mode = "enforcing"',
      '[[registry]]',
      'location = "127.0.0.1:5000"',
      'insecure = true',
      '[[registry]]',
      'prefix = "reg.example.com/blocked"',
      'location = "reg.example.com/blocked"',
      'blocked = true',
      '[[registry.mirror]]',
      'location = "mirror.example.com"',
      '[aliases]',
      '"busybox" = "docker.io/library/busybox"',
    ].join('\n'));
    fs.mkdirSync(`${f}.d`);
    fs.writeFileSync(path.join(`${f}.d`, '10-x.conf'), '[[registry]]\nlocation = "reg.example.com"\ninsecure = true\n');
    const c = loadRegistriesConf(f);
    assert.deepEqual(c.unqualifiedSearch, ['registry.example.com', 'docker.io']);
    assert.equal(findRegistryEntry(c, '127.0.0.1:5000/fixtures/base')?.insecure, true);
    assert.equal(findRegistryEntry(c, '127.0.0.1:50000/fixtures/base'), undefined);
    assert.equal(findRegistryEntry(c, 'reg.example.com/blocked/x')?.blocked, true);
    assert.equal(findRegistryEntry(c, 'reg.example.com/other')?.insecure, true);
    assert.deepEqual(loadRegistriesConf(path.join(tmp, 'absent.conf')).unqualifiedSearch, []);
  });

  it('registries.conf v1 tables and syntax errors', () => {
    const t = parseToml('[registries.search]\nregistries = ["a.example.com"]\n[registries.insecure]\nregistries = ["b:5000"]\n');
    assert.deepEqual(t, { registries: { search: { registries: ['a.example.com'] }, insecure: { registries: ['b:5000'] } } });
    const f = path.join(tmp, 'v1.conf');
    fs.writeFileSync(f, '[registries.search]\nregistries = ["a.example.com"]\n[registries.insecure]\nregistries = ["b:5000"]\n');
    const c = loadRegistriesConf(f);
    assert.deepEqual(c.unqualifiedSearch, ['a.example.com']);
    assert.equal(findRegistryEntry(c, 'b:5000/x')?.insecure, true);
    for (const bad of ['x = ', 'x = "unterminated', '[a', 'x = [1, 2', 'x = 1 y']) {
      let err: unknown;
      try {
        parseToml(bad, 'bad.conf');
      } catch (e) {
        err = e;
      }
      assert.ok(isAtomicError(err) && err.code === 'USAGE' && /bad\.conf:1:/.test(err.message), `${bad}: ${String(err)}`);
    }
  });

  it('credentials: --src-creds, auth files (auth base64, username/password, URL keys, namespace prefixes)', () => {
    assert.deepEqual(parseCreds('u:p:w'), { username: 'u', password: 'p:w', source: '--src-creds' });
    assert.deepEqual(parseCreds('u'), { username: 'u', password: '', source: '--src-creds' });
    assert.throws(() => parseCreds(':p'), /user name is empty/);
    const f = path.join(tmp, 'auth.json');
    const b = (s: string): string => Buffer.from(s).toString('base64');
    fs.writeFileSync(f, JSON.stringify({
      auths: {
        'reg.example.com': { auth: b('a:1') },
        'reg.example.com/team': { auth: b('b:2') },
        'https://other.example.com/v1/': { username: 'c', password: '3' },
        'https://index.docker.io/v1/': { auth: b('d:4') },
      },
    }));
    assert.equal(lookupAuthFile(f, 'reg.example.com', 'x/y')?.username, 'a');
    assert.equal(lookupAuthFile(f, 'reg.example.com', 'team/y')?.username, 'b');
    assert.equal(lookupAuthFile(f, 'other.example.com', 'z')?.password, '3');
    assert.equal(lookupAuthFile(f, 'docker.io', 'library/busybox')?.username, 'd');
    assert.equal(lookupAuthFile(f, 'nope.example.com', 'z'), null);
    assert.equal(lookupAuthFile(path.join(tmp, 'absent.json'), 'reg.example.com', 'x'), null);
    const home = path.join(tmp, 'home');
    fs.mkdirSync(path.join(home, '.docker'), { recursive: true });
    fs.writeFileSync(path.join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'reg.example.com': { auth: b('e:5') } } }));
    assert.equal(findCredentials('reg.example.com', 'x', undefined, { REGISTRY_AUTH_FILE: f, HOME: home })?.username, 'a');
    assert.equal(findCredentials('reg.example.com', 'x', undefined, { REGISTRY_AUTH_FILE: path.join(tmp, 'absent.json'), HOME: home })?.username, 'e');
    assert.equal(findCredentials('reg.example.com', 'x', 'z:9', { REGISTRY_AUTH_FILE: f, HOME: home })?.username, 'z');
  });

  it('loopback hosts, Docker Hub mapping, CLI flags', () => {
    for (const h of ['127.0.0.1:5000', '127.1.2.3', 'localhost:5000', '[::1]:5000', '::1']) assert.ok(isLoopbackHost(h), h);
    for (const h of ['128.0.0.1:5000', '10.0.0.1', 'registry.example.com', '127.0.0.1.example.com']) assert.ok(!isLoopbackHost(h), h);
    assert.deepEqual(apiHostAndRepo('docker.io', 'busybox'), { apiHost: 'registry-1.docker.io', repository: 'library/busybox' });
    assert.deepEqual(apiHostAndRepo('quay.io', 'a/b'), { apiHost: 'quay.io', repository: 'a/b' });
    assert.deepEqual(registryOptionsFromFlags({ 'tls-verify': 'false', 'src-creds': 'u:p', platform: 'linux/arm/v7' }), {
      registry: { tlsVerify: false, creds: 'u:p' },
      platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
    });
    assert.deepEqual(registryOptionsFromFlags({ arch: 'arm64' }).platform, { architecture: 'arm64' });
    assert.throws(() => registryOptionsFromFlags({ platform: 'linux' }), /OS\/ARCH/);
  });
});
