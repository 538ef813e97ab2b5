/**
 * install --system / containers update / rollback / uninstall / list, end to end through the CLI
 * in a scratch --sysroot (no running systemd needed: `systemctl --root` enables units offline).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { atomicSysroot } from '../../helpers/cli.js';
import { deployState, treeListing, CK } from '../../helpers/deploy-state.js';
import { buildExampleImage } from '../../helpers/example-image.js';

const GOLDEN = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..', '..', 'test', 'fixtures', 'golden');

function golden(name: string, actual: string, subst: Record<string, string>): void {
  let norm = actual;
  for (const [k, v] of Object.entries(subst)) norm = norm.split(v).join(k);
  const file = path.join(GOLDEN, name);
  if (process.env.ATOMIC_UPDATE_GOLDEN === '1') {
    fs.mkdirSync(GOLDEN, { recursive: true });
    fs.writeFileSync(file, norm);
  }
  assert.equal(norm, fs.readFileSync(file, 'utf8'), `golden ${name} (set ATOMIC_UPDATE_GOLDEN=1 to regenerate, then review the diff)`);
}

describe('system containers in a scratch sysroot', function () {
  this.timeout(180_000);
  let fx: string;
  let work: string;
  let S: string;
  const a = (args: string[], extra: Record<string, string> = {}) => atomicSysroot(S, args, extra);
  const ck = (...p: string[]) => path.join(S, CK, ...p);
  const info = (slot: string) => JSON.parse(fs.readFileSync(ck(slot, 'info'), 'utf8')) as { values: Record<string, string>; image: string; revision: string; 'installed-files-checksum': Record<string, string> };
  let beforeInstall: string[];

  before(() => {
    fx = fixtureImages();
    work = makeTempDir('atomic-deploy-');
    S = path.join(work, 'sysroot');
    fs.mkdirSync(S);
    // what an OS tree has anyway
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
    // the store must exist before the snapshot so that the comparison after uninstall is exact
    assert.equal(a(['pull', `oci:${fx}/oci:systest`]).status, 0);
    beforeInstall = treeListing(S, [`${CK}/.storage`]);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('install --system renders the unit, tmpfiles and config.json from /exports and enables the unit', () => {
    const r = a(['install', '--system', '--name', 'hello', '--set', 'RECEIVER=Mars', `oci:${fx}/oci:systest`]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`Extracting to ${ck('hello.0').replace(/[.]/g, '\\.')}\n`));
    assert.match(r.stdout, /systemctl --root=\S+ enable hello\.service\n/);
    assert.match(r.stdout, /systemd-tmpfiles --root=\S+ --create \S+\/etc\/tmpfiles\.d\/hello\.conf\n/);
    assert.equal(fs.readlinkSync(ck('hello')), `/${CK}/hello.0`);
    const st = deployState(S, 'hello');
    assert.deepEqual(st, { kind: 'installed', slot: 'hello.0', problems: [] });
    const unit = fs.readFileSync(path.join(S, 'etc/systemd/system/hello.service'), 'utf8');
    const runtime = info('hello.0').values.RUNTIME;
    golden('systest-hello.service', unit, { '@DESTDIR@': `/${CK}/hello.0`, '@RUNTIME@': runtime });
    golden('systest-hello.tmpfiles', fs.readFileSync(path.join(S, 'etc/tmpfiles.d/hello.conf'), 'utf8'), {});
    assert.ok(fs.lstatSync(path.join(S, 'etc/systemd/system/multi-user.target.wants/hello.service')).isSymbolicLink());
    assert.ok(fs.statSync(path.join(S, 'run/hello')).isDirectory(), 'tmpfiles --create made ${RUN_DIRECTORY}/${NAME}');
    const cfg = JSON.parse(fs.readFileSync(ck('hello.0', 'config.json'), 'utf8')) as { process: { env: string[] }; hostname: string; root: { path: string; readonly: boolean } };
    assert.ok(cfg.process.env.includes('RECEIVER=Mars'));
    assert.ok(cfg.process.env.includes('PORT=8081'), 'manifest default');
    assert.equal(cfg.hostname, 'hello');
    assert.deepEqual(cfg.root, { path: 'rootfs', readonly: true });
    const i = info('hello.0');
    assert.equal(i.revision, '90f354a469e21c3135511c2e8fd20891ddefaca1ca5c9c443390bcea1059a319');
    assert.match(i.values.UUID, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(i.values.NAME, 'hello');
    assert.equal(i.values.DESTDIR, `/${CK}/hello.0`, 'paths inside the deployment are as the target system sees them');
    assert.ok(fs.statSync(ck('hello.0', 'rootfs', 'usr/bin/run.sh')).nlink >= 2, 'rootfs files are hardlinks into the store');
  });

  it('installing an existing name prints "already present" and exits 0', () => {
    const r = a(['install', '--system', '--name', 'hello', `oci:${fx}/oci:systest`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').pop(), 'hello already present');
  });

  it('containers list shows it with atomic\'s columns and JSON', () => {
    const j = a(['containers', 'list', '-a', '--json']);
    assert.equal(j.status, 0, j.stderr);
    const rows = JSON.parse(j.stdout) as Array<Record<string, unknown>>;
    assert.equal(rows.length, 1);
    assert.equal(rows[0].name, 'hello');
    assert.equal(rows[0].state, 'inactive');
    assert.equal(rows[0].command, '/usr/bin/run.sh');
    assert.equal(rows[0].image_id, '90f354a469e21c3135511c2e8fd20891ddefaca1ca5c9c443390bcea1059a319');
    const t = a(['containers', 'list', '-a']);
    const lines = t.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^ {3}CONTAINER ID +IMAGE +NAME +COMMAND +CREATED +STATE +BACKEND +RUNTIME/);
    assert.match(lines[1], /^ {3}hello +\S+ +hello +\/usr\/bin\/r +\d{4}-\d\d-\d\d \d\d:\d\d +inactive +ostree +/);
    assert.equal(a(['containers', 'list']).stdout, '', 'without -a only running containers');
    assert.equal(a(['containers', 'list', '-a', '-q']).stdout, 'hello\n');
  });

  it('update --set carries UUID and stored values into the other slot', () => {
    const before = info('hello.0');
    const r = a(['containers', 'update', '--set', 'PORT=8082', 'hello']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Extracting to .*hello\.1\n/);
    assert.equal(fs.readlinkSync(ck('hello')), `/${CK}/hello.1`);
    const after = info('hello.1');
    assert.equal(after.values.UUID, before.values.UUID);
    assert.equal(after.values.PORT, '8082');
    assert.equal(after.values.RECEIVER, 'Mars');
    assert.equal(after.values.DESTDIR, `/${CK}/hello.1`, 'forced values are recomputed');
    assert.deepEqual(deployState(S, 'hello').problems, []);
    const unit = fs.readFileSync(path.join(S, 'etc/systemd/system/hello.service'), 'utf8');
    assert.match(unit, /port 8082/);
    const same = a(['containers', 'update', 'hello']);
    assert.equal(same.status, 0, same.stderr);
    assert.match(same.stdout, /Latest version already installed\./);
    assert.equal(fs.readlinkSync(ck('hello')), `/${CK}/hello.1`);
  });

  it('rollback restores the other slot with its own config and values; rolling back again toggles', () => {
    const r = a(['containers', 'rollback', 'hello']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`Rolling back container hello to the checkout at ${ck('hello.0').replace(/[.]/g, '\\.')}\n`));
    assert.equal(fs.readlinkSync(ck('hello')), `/${CK}/hello.0`);
    assert.deepEqual(deployState(S, 'hello').problems, []);
    const cfg = fs.readFileSync(ck('hello.0', 'config.json'), 'utf8');
    assert.match(cfg, /PORT=8081/);
    assert.match(fs.readFileSync(path.join(S, 'etc/systemd/system/hello.service'), 'utf8'), /port 8081/);
    assert.equal(a(['containers', 'rollback', 'hello']).status, 0);
    assert.equal(fs.readlinkSync(ck('hello')), `/${CK}/hello.1`);
  });

  it('update --rebase moves to another image', () => {
    const r = a(['containers', 'update', '--rebase', `oci:${fx}/oci:systest-update`, 'hello']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.equal(fs.readlinkSync(ck('hello')), `/${CK}/hello.0`);
    assert.ok(fs.existsSync(ck('hello.0', 'rootfs/usr/share/systest/CHANGES')));
    assert.equal(info('hello.0').values.PORT, '8082', 'values carried over the rebase');
    assert.equal(info('hello.0').revision, 'a3721beb8210001c52162bf450a81b77ea2edad824c4e429299a25098d70c0ff');
  });

  it('--rootfs shares another deployment\'s rootfs read-only: only config, unit and tmpfiles are generated', () => {
    const r = a(['install', '--system', '--name', 'remote1', '--rootfs', `/${CK}/hello`, 'systest']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /The remote rootfs for this container is set to be \S+\/hello\.0\/rootfs\n/);
    assert.equal(fs.readlinkSync(ck('remote1.0', 'rootfs')), `/${CK}/hello.0/rootfs`, 'a link, not a checkout');
    const cfg = JSON.parse(fs.readFileSync(ck('remote1.0', 'config.json'), 'utf8')) as { root: { path: string; readonly: boolean } };
    assert.deepEqual(cfg.root, { path: `/${CK}/hello.0/rootfs`, readonly: true });
    assert.equal((info('remote1.0') as unknown as { remote: string }).remote, `/${CK}/hello`);
    assert.deepEqual(deployState(S, 'remote1').problems, []);
    const u = a(['containers', 'update', '--set', 'PORT=9999', 'remote1']);
    assert.equal(u.status, 0, u.stderr + u.stdout);
    assert.match(u.stdout, /Updating a container with a remote rootfs\. Only changes to config will be applied\./);
    assert.equal(fs.readlinkSync(ck('remote1.1', 'rootfs')), `/${CK}/hello.0/rootfs`);
    assert.equal(a(['uninstall', 'remote1']).status, 0);
    assert.ok(fs.existsSync(ck('hello.0', 'rootfs/usr/bin/run.sh')), 'uninstalling the remote container leaves the shared rootfs alone');
    const bad = a(['install', '--system', '--name', 'remote2', '--rootfs', '/no/such/dir', 'systest']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /the remote rootfs does not exist/);
    assert.equal(deployState(S, 'remote2').kind, 'absent');
  });

  it('a template with an undefined variable fails with atomic\'s message and changes nothing', () => {
    const src = buildExampleImage('hello-web', work, 'novar', (d) => {
      fs.appendFileSync(path.join(d, 'rootfs/exports/service.template'), '# needs $VAR_WITH_NO_DEFAULT\n');
    });
    const snap = treeListing(S, [`${CK}/.storage`, `${CK}/.atomic/locks`]);
    const r = a(['install', '--system', '--name', 'novar', src]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /still contains an unreplaced value for: ''VAR_WITH_NO_DEFAULT''/);
    assert.deepEqual(treeListing(S, [`${CK}/.storage`, `${CK}/.atomic/locks`]), snap, 'nothing of the failed install remains');
    const u = a(['containers', 'update', '--rebase', src, 'hello']);
    assert.notEqual(u.status, 0);
    assert.match(u.stderr, /unreplaced value for: ''VAR_WITH_NO_DEFAULT''/);
    assert.deepEqual(treeListing(S, [`${CK}/.storage`, `${CK}/.atomic/locks`]), snap, 'a failed update leaves the previous deployment, unit and tmpfiles');
  });

  it('--set values with spaces and $ survive into config.json and the unit; injection is refused', () => {
    const r = a(['install', '--system', '--name', 'spaces', '--set', 'RECEIVER=Big $Mars "x"', `oci:${fx}/oci:systest`]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const cfg = JSON.parse(fs.readFileSync(ck('spaces.0', 'config.json'), 'utf8')) as { process: { env: string[] } };
    assert.ok(cfg.process.env.includes('RECEIVER=Big $Mars "x"'), JSON.stringify(cfg.process.env));
    assert.match(fs.readFileSync(path.join(S, 'etc/systemd/system/spaces.service'), 'utf8'), /hello Big \$Mars "x" on port/);
    const bad = a(['install', '--system', '--name', 'inject', '--set', 'RECEIVER=x\n[Service]\nExecStartPre=/bin/evil', `oci:${fx}/oci:systest`]);
    assert.notEqual(bad.status, 0);
    assert.ok(!fs.existsSync(path.join(S, 'etc/systemd/system/inject.service')));
    assert.equal(deployState(S, 'inject').kind, 'absent');
    assert.equal(a(['uninstall', 'spaces']).status, 0);
  });

  it('uninstall removes every file it created', () => {
    const r = a(['uninstall', 'hello']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.equal(deployState(S, 'hello').kind, 'absent');
    const left = treeListing(S, [`${CK}/.storage`, `${CK}/.atomic`]).filter((p) => !beforeInstall.includes(p));
    // tmpfiles 'd' lines are not removed by systemd-tmpfiles --remove (state stays), as on a real host
    assert.deepEqual(left.filter((p) => !/^(run|var\/lib)\/(hello|spaces|remote1)\/?$/.test(p) && !/^(run|var\/lib|var)\/$/.test(p)), []);
    const again = a(['uninstall', 'hello']);
    assert.equal(again.status, 1, 'uninstalling an absent container is an error (a typo must not look like success)');
    assert.match(again.stderr, /Unable to find 'hello' in the following backends: ostree/);
  });
});
