import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  generateDefaultConfig,
  validateRuntimeConfig,
  configureUserNamespace,
  runtimeSpecSchemaDir,
  runtimeConfigValidator,
  resolveImageUser,
  parseSubIdFile,
  DEFAULT_CAPABILITIES,
  type OciRuntimeConfig,
} from '../../../src/render/config-json.js';
import { renderConfigJsonTemplate } from '../../../src/render/render-files.js';
import { computeValues } from '../../../src/render/values.js';
import { PROJECT_ROOT, SHARED } from '../../helpers/fixtures.js';
import { fixtureExports, helloWebExport } from './fixture-exports.js';
import { expectError } from '../../helpers/error-code.js';

const FILE = '/var/lib/containers/atomic/x.0/config.json';
const never = (): boolean => false;
const clone = <T>(x: T): T => structuredClone(x);

function systestConfig(): Record<string, unknown> {
  const values = computeValues({
    name: 'systest',
    destDir: '/var/lib/containers/atomic/systest.0',
    imageName: 'oci:systest',
    imageId: 'x',
    runtime: '/usr/bin/runc',
    userMode: false,
    uid: 0,
    gid: 0,
    setValues: { PORT: '8082', RECEIVER: 'SECRET' },
    manifestDefaults: { RECEIVER: 'World', PORT: '8081' },
    serviceTemplate: '',
    runtimeFeatures: { systemdCgroup: true, pidFile: true },
    home: '/root',
    atomicPath: '/usr/bin/atomic',
  });
  return renderConfigJsonTemplate(fixtureExports('systest').get('config.json.template')!, values, 'config.json.template');
}

describe('render/config-json', () => {
  describe('schema location', () => {
    it('loads the shipped copy under schemas/oci-runtime-spec first', () => {
      assert.equal(runtimeSpecSchemaDir({}), path.join(PROJECT_ROOT, 'schemas', 'oci-runtime-spec'));
    });
    it('ATOMIC_OCI_SCHEMAS overrides it (oci-schemas dir or runtime-spec dir)', () => {
      const shared = path.join(SHARED, 'oci-schemas');
      if (!fs.existsSync(shared)) return;
      assert.equal(runtimeSpecSchemaDir({ ATOMIC_OCI_SCHEMAS: shared }), path.join(shared, 'runtime-spec'));
      assert.equal(runtimeSpecSchemaDir({ ATOMIC_OCI_SCHEMAS: path.join(shared, 'runtime-spec') }), path.join(shared, 'runtime-spec'));
    });
    it('the shipped copy is identical to the shared official schemas', () => {
      const shared = path.join(SHARED, 'oci-schemas', 'runtime-spec');
      if (!fs.existsSync(shared)) return;
      const dir = path.join(PROJECT_ROOT, 'schemas', 'oci-runtime-spec');
      for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json'))) {
        assert.equal(fs.readFileSync(path.join(dir, f), 'utf8'), fs.readFileSync(path.join(shared, f), 'utf8'), f);
      }
    });
    it('the official test/good configs pass and test/bad ones fail the schema', () => {
      const tests = path.join(SHARED, 'oci-schemas', 'runtime-spec', 'test');
      if (!fs.existsSync(tests)) return;
      const v = runtimeConfigValidator();
      for (const f of fs.readdirSync(path.join(tests, 'good'))) {
        assert.ok(v(JSON.parse(fs.readFileSync(path.join(tests, 'good', f), 'utf8'))), `${f}: ${JSON.stringify(v.errors)}`);
      }
      for (const f of fs.readdirSync(path.join(tests, 'bad'))) {
        let data: unknown;
        try {
          data = JSON.parse(fs.readFileSync(path.join(tests, 'bad', f), 'utf8'));
        } catch {
          continue; // invalid-json.json
        }
        assert.ok(!v(data), f);
      }
    });
  });

  describe('validateRuntimeConfig', () => {
    it('the rendered systest config validates; its bind source is reported when missing', function () {
      this.timeout(120_000);
      const c = systestConfig();
      assert.deepEqual(validateRuntimeConfig(c, { remote: false, file: FILE, exists: never }), { missingBindSources: ['/run/systest'] });
      assert.deepEqual(validateRuntimeConfig(c, { remote: false, file: FILE, exists: () => true }), { missingBindSources: [] });
      assert.deepEqual(validateRuntimeConfig(c, { remote: false, file: FILE }), { missingBindSources: ['/run/systest'] });
    });
    it('the rendered hello-web config validates', () => {
      const c = renderConfigJsonTemplate(helloWebExport('config.json.template'), { PORT: '8080', GREETING: 'Hello', NAME: 'hello', RUN_DIRECTORY: '/run' }, 'f');
      assert.deepEqual(validateRuntimeConfig(c, { remote: false, file: FILE, exists: never }).missingBindSources, ['/run/hello']);
    });
    it('an empty {} is accepted (atomic wrote it when `runc spec` failed)', () => {
      assert.deepEqual(validateRuntimeConfig({}, { remote: false, file: FILE }), { missingBindSources: [] });
    });

    const atomicRules: { title: string; mutate: (c: OciRuntimeConfig) => void; remote: boolean; msg: string | null }[] = [
      { title: 'readonly false', mutate: (c) => (c.root!.readonly = false), remote: false, msg: 'Invalid configuration file.  Only readonly images are supported' },
      { title: 'readonly absent', mutate: (c) => delete c.root!.readonly, remote: false, msg: 'Invalid configuration file.  Only readonly images are supported' },
      { title: 'root absent', mutate: (c) => delete c.root, remote: false, msg: 'Invalid configuration file.  Only readonly images are supported' },
      { title: 'readonly "true" (string)', mutate: (c) => ((c.root as Record<string, unknown>).readonly = 'true'), remote: false, msg: 'Invalid configuration file.  Only readonly images are supported' },
      { title: 'root.path not rootfs', mutate: (c) => (c.root!.path = '/'), remote: false, msg: "Invalid configuration file.  Path must be 'rootfs'" },
      { title: 'root.path ./rootfs', mutate: (c) => (c.root!.path = './rootfs'), remote: false, msg: "Invalid configuration file.  Path must be 'rootfs'" },
      { title: 'remote: any root.path', mutate: (c) => (c.root!.path = '/srv/remote/rootfs'), remote: true, msg: null },
    ];
    for (const r of atomicRules) {
      it(`atomic rule: ${r.title}`, () => {
        const c = generateDefaultConfig(null, { userMode: false, hostname: 'x' });
        r.mutate(c);
        if (r.msg === null) validateRuntimeConfig(c, { remote: r.remote, file: FILE });
        else {
          assert.throws(
            () => validateRuntimeConfig(c, { remote: r.remote, file: FILE }),
            (e: Error) => e.message === r.msg,
          );
        }
      });
    }

    it('schema problems: one SCHEMA_INVALID error listing each and naming the file', () => {
      const c = generateDefaultConfig(null, { userMode: false, hostname: 'x' }) as Record<string, unknown>;
      (c.process as Record<string, unknown>).args = 'sh';
      (c.mounts as Record<string, unknown>[]).push({ type: 'bind', source: '/x' });
      (c.linux as Record<string, unknown>).namespaces = [{ type: 'bogus' }];
      c.ociVersion = 2;
      expectError(() => validateRuntimeConfig(c, { remote: false, file: FILE }), 'SCHEMA_INVALID', FILE, '/process/args: must be array', "must have required property 'destination'", '/ociVersion: must be string', '/linux/namespaces/0/type');
    });
    it('a non-object is refused', () => {
      expectError(() => validateRuntimeConfig([], { remote: false, file: FILE }), 'SCHEMA_INVALID', FILE);
    });

    it('bind-mount source detection', () => {
      const c = generateDefaultConfig(null, { userMode: false, hostname: 'x' });
      c.mounts!.push(
        { destination: '/a', type: 'bind', source: '/host/a', options: ['bind'] },
        { destination: '/b', type: 'rbind', source: '/host/b' },
        { destination: '/c', type: 'none', source: '/host/c', options: ['rbind'] },
        { destination: '/d', source: '/host/d', options: ['bind'] },
        { destination: '/e', type: 'bind', source: 'relative/e' },
        { destination: '/f', type: 'bind', source: '/exists/f' },
      );
      const seen: string[] = [];
      const r = validateRuntimeConfig(c, {
        remote: false,
        file: FILE,
        exists: (p) => {
          seen.push(p);
          return p.startsWith('/exists');
        },
      });
      assert.deepEqual(r.missingBindSources, ['/host/a', '/host/b']);
      assert.deepEqual(seen, ['/host/a', '/host/b', '/exists/f']);
    });
  });

  describe('generateDefaultConfig', () => {
    it('root mode: validates, readonly rootfs, host network, docker default capabilities', () => {
      const c = generateDefaultConfig({ Entrypoint: ['/bin/app'], Cmd: ['--port', '80'], Env: ['A=1'], WorkingDir: '/srv', User: '1000:1001' }, { userMode: false, hostname: 'etcd' });
      validateRuntimeConfig(c, { remote: false, file: FILE });
      assert.equal(c.ociVersion, '1.0.2');
      assert.deepEqual(c.process!.args, ['/bin/app', '--port', '80']);
      assert.deepEqual(c.process!.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1']);
      assert.equal(c.process!.cwd, '/srv');
      assert.deepEqual(c.process!.user, { uid: 1000, gid: 1001 });
      assert.equal(c.process!.terminal, false);
      assert.deepEqual(c.root, { path: 'rootfs', readonly: true });
      assert.equal(c.hostname, 'etcd');
      assert.deepEqual(c.linux!.namespaces!.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount']);
      assert.equal(DEFAULT_CAPABILITIES.length, 14);
      assert.deepEqual(c.process!.capabilities!.bounding, [...DEFAULT_CAPABILITIES]);
      assert.deepEqual(c.mounts!.map((m) => m.destination), ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/tmp', '/run']);
      assert.ok(c.linux!.maskedPaths!.includes('/proc/kcore'));
      assert.ok(c.linux!.readonlyPaths!.includes('/proc/sys'));
      assert.deepEqual(validateRuntimeConfig(c, { remote: false, file: FILE, exists: never }).missingBindSources, []);
    });
    it('user mode: validates before and after configureUserNamespace', () => {
      const c = generateDefaultConfig({ Cmd: ['/bin/app'] }, { userMode: true, hostname: 'etcd' });
      validateRuntimeConfig(c, { remote: false, file: FILE });
      assert.equal(c.linux!.resources, undefined);
      const u = configureUserNamespace(c, 1000, 1000, { start: 100000, count: 65536 }, { start: 100000, count: 65536 });
      validateRuntimeConfig(u, { remote: false, file: FILE });
    });
    it('no Entrypoint/Cmd: atomic\'s ["run.sh"] and a warning', () => {
      const warnings: string[] = [];
      const c = generateDefaultConfig(null, { userMode: false, hostname: 'x', onWarning: (w) => warnings.push(w) });
      assert.deepEqual(c.process!.args, ['run.sh']);
      assert.equal(c.process!.cwd, '/');
      assert.deepEqual(c.process!.user, { uid: 0, gid: 0 });
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /run\.sh/);
    });
    it('keeps an image PATH, makes a relative WorkingDir absolute', () => {
      const c = generateDefaultConfig({ Cmd: ['x'], Env: ['PATH=/opt/bin', 'B=2'], WorkingDir: 'app' }, { userMode: false, hostname: 'x' });
      assert.deepEqual(c.process!.env, ['PATH=/opt/bin', 'B=2']);
      assert.equal(c.process!.cwd, '/app');
    });

    const passwd = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65533:nobody:/:/bin/false\nweb:x:33:33::/var/www:/bin/false\n';
    const group = 'root:x:0:\nwww:x:82:\n';
    const users: [string | null, { uid: number; gid: number }, number][] = [
      [null, { uid: 0, gid: 0 }, 0],
      ['', { uid: 0, gid: 0 }, 0],
      ['1000', { uid: 1000, gid: 0 }, 0],
      ['33', { uid: 33, gid: 33 }, 0],
      ['1000:1001', { uid: 1000, gid: 1001 }, 0],
      ['nobody', { uid: 65534, gid: 65533 }, 0],
      ['web:www', { uid: 33, gid: 82 }, 0],
      ['1000:www', { uid: 1000, gid: 82 }, 0],
      ['ghost', { uid: 0, gid: 0 }, 1],
      ['web:ghosts', { uid: 33, gid: 0 }, 1],
    ];
    for (const [user, want, nWarnings] of users) {
      it(`User ${JSON.stringify(user)} → ${want.uid}:${want.gid}${nWarnings ? ' + warning' : ''}`, () => {
        const r = resolveImageUser(user, { passwd, group });
        assert.deepEqual({ uid: r.uid, gid: r.gid }, want);
        assert.equal(r.warnings.length, nWarnings);
        const warnings: string[] = [];
        const c = generateDefaultConfig({ Cmd: ['x'], User: user }, { userMode: false, hostname: 'x', passwd, group, onWarning: (w) => warnings.push(w) });
        assert.deepEqual(c.process!.user, want);
        assert.equal(warnings.length, nWarnings);
      });
    }
  });

  describe('configureUserNamespace (§2.11)', () => {
    const base = (): OciRuntimeConfig => ({
      ociVersion: '1.0.2',
      root: { path: 'rootfs', readonly: true },
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] },
        { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['ro'] },
        { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup' },
        { destination: '/var/run', type: 'bind', source: '/run/x', options: ['rbind', 'rw', 'nosuid'] },
      ],
      linux: {
        namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
        resources: { devices: [{ allow: false, access: 'rwm' }], memory: { limit: 1 } },
      },
    });

    it('drops network, adds user, replaces /sys mounts, adds nodev/nosuid, drops device rules', () => {
      const input = base();
      const before = clone(input);
      const c = configureUserNamespace(input, 1000, 1001, { start: 100000, count: 65536 }, { start: 200000, count: 65536 });
      assert.deepEqual(input, before, 'input must not be modified');
      assert.deepEqual(c.linux!.namespaces!.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount', 'user']);
      assert.deepEqual(c.mounts, [
        { destination: '/proc', type: 'proc', source: 'proc', options: ['nodev', 'nosuid'] },
        { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] },
        { destination: '/var/run', type: 'bind', source: '/run/x', options: ['rbind', 'rw', 'nosuid', 'nodev'] },
        { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] },
      ]);
      assert.deepEqual(c.linux!.resources, { memory: { limit: 1 } });
      assert.deepEqual(c.linux!.uidMappings, [
        { containerID: 0, hostID: 1000, size: 1 },
        { containerID: 1, hostID: 100000, size: 65536 },
      ]);
      // atomic used the uid here; we use the gid
      assert.deepEqual(c.linux!.gidMappings, [
        { containerID: 0, hostID: 1001, size: 1 },
        { containerID: 1, hostID: 200000, size: 65536 },
      ]);
    });
    it('without subordinate ranges only the user itself is mapped', () => {
      const c = configureUserNamespace(base(), 1000, 1001);
      assert.deepEqual(c.linux!.uidMappings, [{ containerID: 0, hostID: 1000, size: 1 }]);
      assert.deepEqual(c.linux!.gidMappings, [{ containerID: 0, hostID: 1001, size: 1 }]);
    });
    it('existing mappings and user namespace are kept', () => {
      const b = base();
      b.linux!.namespaces!.push({ type: 'user' });
      b.linux!.uidMappings = [{ containerID: 0, hostID: 5, size: 10 }];
      const c = configureUserNamespace(b, 1000, 1001);
      assert.deepEqual(c.linux!.uidMappings, [{ containerID: 0, hostID: 5, size: 10 }]);
      assert.equal(c.linux!.namespaces!.filter((n) => n.type === 'user').length, 1);
    });
    it('parseSubIdFile', () => {
      const text = 'alice:100000:65536\nbob:165536:65536\n1002:300000:1000\n';
      assert.deepEqual(parseSubIdFile(text, 'bob'), { start: 165536, count: 65536 });
      assert.deepEqual(parseSubIdFile(text, 'carol', 1002), { start: 300000, count: 1000 });
      assert.equal(parseSubIdFile(text, 'carol'), null);
      assert.equal(parseSubIdFile('', 'x'), null);
    });
  });
});
