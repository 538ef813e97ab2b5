/**
 * Ansible's real `community.general.atomic_container` and `atomic_image` modules (Debian's
 * `ansible` package, installed by scripts/ensure-tools.mjs), unchanged, driving our CLI through
 * the whole lifecycle of a system container under a real systemd (the with-systemd harness) with
 * images from the real registry fixture:
 *
 *   present, present again (changed=false), latest with a new image (changed=true, restarted),
 *   latest again in two spellings (changed=false, not restarted), rollback, absent, absent again
 *   (changed=false), image pull (changed=true; `started` must not hang), pull again (changed=false),
 *   and a container without `mode` (atomic's ostree backend installs a system container).
 *
 * The modules run `atomic` from PATH: a directory holding an `atomic` wrapper of bin/run.js is put
 * first on the PATH of `ansible`. They decide `changed` from the words "Extracting" / "Copying
 * blob" (install, update, pull) and "Rolling back" (rollback), and presence from `containers list
 * --no-trunc -n --all -f backend=ostree -f container=NAME`. Counts are printed at the end.
 * Run with `npm run test:system` (scripts/test-system.sh runs test/system and test/compat).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BIN, fixtureImages } from '../helpers/fixtures.js';
import { underSystemd, freePort, waitHttp, waitClosed, systemctl, unitState, runcIds, startRegistry, type Registry } from '../helpers/system.js';

const CK = '/var/lib/containers/atomic';

interface ModuleResult {
  changed: boolean;
  failed: boolean;
  msg: string;
  /** Seconds the whole `ansible` run took. */
  seconds: number;
  raw: Record<string, unknown>;
}

const counts = { runs: 0, changed: 0, unchanged: 0, failed: 0, steps: 0, stepsPassed: 0 };

describe('compat: Ansible atomic_container / atomic_image modules drive atomic (real systemd, real registry)', function () {
  this.timeout(900_000);
  let reg: Registry | undefined;
  let work: string;
  let binDir: string;
  let P: number;
  let IMG1: string;
  let IMG2: string;
  let IMG3: string;
  const NAME = 'anshello';

  /** `ansible localhost -m community.general.MODULE -a JSON`, the JSON stdout callback parsed. */
  function ansible(module: string, args: Record<string, unknown>): ModuleResult {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${binDir}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      HOME: work,
      ANSIBLE_LOCAL_TEMP: path.join(work, 'ansible-local'),
      ANSIBLE_REMOTE_TEMP: path.join(work, 'ansible-remote'),
      ANSIBLE_LOAD_CALLBACK_PLUGINS: '1',
      ANSIBLE_STDOUT_CALLBACK: 'json',
      ANSIBLE_LOCALHOST_WARNING: '0',
      ANSIBLE_INVENTORY_UNPARSED_WARNING: '0',
      ANSIBLE_NOCOLOR: '1',
    };
    for (const k of ['ATOMIC_SYSROOT', 'ATOMIC_OSTREE_REPO', 'ATOMIC_OSTREE_CHECKOUT_PATH', 'ATOMIC_CONF']) delete env[k];
    const t0 = Date.now();
    const r = spawnSync('ansible', ['localhost', '-c', 'local', '-i', 'localhost,', '-e', 'ansible_python_interpreter=/usr/bin/python3', '-m', `community.general.${module}`, '-a', JSON.stringify(args)], {
      encoding: 'utf8',
      env,
      timeout: 300_000,
    });
    const seconds = (Date.now() - t0) / 1000;
    assert.ok(!r.error, `ansible did not finish: ${String(r.error)}\n${r.stderr}`);
    let doc: { plays: Array<{ tasks: Array<{ hosts: Record<string, Record<string, unknown>> }> }> };
    try {
      doc = JSON.parse(r.stdout) as typeof doc;
    } catch {
      throw new Error(`ansible printed no JSON (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
    }
    const raw = doc.plays[0]!.tasks[0]!.hosts.localhost!;
    const res: ModuleResult = { changed: raw.changed === true, failed: raw.failed === true, msg: String(raw.msg ?? raw.result ?? ''), seconds, raw };
    counts.runs++;
    if (res.failed) counts.failed++;
    else if (res.changed) counts.changed++;
    else counts.unchanged++;
    return res;
  }

  function container(state: string, image: string, extra: Record<string, unknown> = {}): ModuleResult {
    return ansible('atomic_container', { name: NAME, image, backend: 'ostree', mode: 'system', state, values: [`PORT=${P}`, 'RECEIVER=Ansible'], ...extra });
  }

  function ok(r: ModuleResult, changed: boolean, what: string): void {
    assert.equal(r.failed, false, `${what}: the module failed: ${JSON.stringify(r.raw, null, 2)}`);
    assert.equal(r.changed, changed, `${what}: changed=${r.changed}, expected ${changed}: ${r.msg}`);
  }

  const mainPid = (): string => systemctl('show', '-p', 'MainPID', '--value', NAME).stdout.trim();

  before(async function () {
    assert.ok(underSystemd(), 'the compat suite runs only inside the systemd harness: use `npm run test:system` (npm test runs it)');
    assert.equal(spawnSync('ansible', ['--version'], { encoding: 'utf8' }).status, 0, 'ansible is installed (scripts/ensure-tools.mjs installs the Debian package)');
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-ansible-'));
    binDir = path.join(work, 'bin');
    fs.mkdirSync(binDir);
    fs.writeFileSync(path.join(binDir, 'atomic'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`, { mode: 0o755 });
    reg = await startRegistry(fixtureImages(), path.join(work, 'registry'));
    P = await freePort();
    IMG1 = `docker://${reg.host}/fixtures/systest`;
    IMG2 = `docker://${reg.host}/fixtures/systest-update`;
    IMG3 = `docker://${reg.host}/fixtures/layered`;
  });

  afterEach(function () {
    counts.steps++;
    if (this.currentTest?.state === 'passed') counts.stepsPassed++;
  });

  after(() => {
    reg?.stop();
    console.log(`\n  Ansible suite: ${counts.stepsPassed}/${counts.steps} steps passed; ${counts.runs} module runs: ${counts.changed} changed, ${counts.unchanged} unchanged, ${counts.failed} failed`);
  });

  it('atomic_container present: installs (changed=true), the unit is enabled and starts', async () => {
    const r = container('present', IMG1);
    ok(r, true, 'present');
    assert.match(r.msg, /Extracting to \/var\/lib\/containers\/atomic\/anshello\.0/);
    assert.ok(fs.existsSync(`/etc/systemd/system/${NAME}.service`));
    assert.equal(systemctl('is-enabled', NAME).stdout.trim(), 'enabled');
    assert.equal(systemctl('start', NAME).status, 0);
    assert.equal(await waitHttp(P, /Hello/), 'Hello Ansible from systest 1.0\n');
  });

  it('atomic_container present again: changed=false, nothing touched', () => {
    const pid = mainPid();
    const r = container('present', IMG1);
    ok(r, false, 'present again');
    assert.match(r.msg, /anshello/);
    assert.equal(mainPid(), pid);
    assert.equal(fs.readlinkSync(`${CK}/${NAME}`), `${CK}/${NAME}.0`);
  });

  it('atomic_container latest with a new image: changed=true, restarted on 2.0', async () => {
    const pid = mainPid();
    const r = container('latest', IMG2);
    ok(r, true, 'latest (new image)');
    assert.match(r.msg, /(Copying|Skipping) blob sha256:/, `the new image's layers were fetched or found: ${r.msg}`);
    assert.match(r.msg, /Extracting to \/var\/lib\/containers\/atomic\/anshello\.1/);
    assert.match(r.msg, /Extracting to \/var\/lib\/containers\/atomic\/anshello\.1/);
    assert.equal(fs.readlinkSync(`${CK}/${NAME}`), `${CK}/${NAME}.1`);
    assert.equal(unitState(NAME), 'active');
    assert.notEqual(mainPid(), pid, 'restarted');
    assert.equal(await waitHttp(P, /2\.0/), 'Hello Ansible from systest 2.0\n');
  });

  it('atomic_container latest again, in two spellings of the image: changed=false, "Latest version already installed.", not restarted', async () => {
    const pid = mainPid();
    for (const image of [IMG2, `${reg!.host}/fixtures/systest-update:latest`]) {
      const r = container('latest', image);
      ok(r, false, `latest again (${image})`);
      assert.match(r.msg, /^Latest version already installed\.$/m);
      assert.doesNotMatch(r.msg, /Copying blob|Extracting/);
    }
    assert.equal(mainPid(), pid, 'not restarted');
    assert.equal(fs.readlinkSync(`${CK}/${NAME}`), `${CK}/${NAME}.1`);
    assert.equal(await waitHttp(P, /Hello/), 'Hello Ansible from systest 2.0\n');
  });

  it('atomic_container rollback: changed=true, back on 1.0 and running', async () => {
    const r = container('rollback', IMG2);
    ok(r, true, 'rollback');
    assert.match(r.msg, /Rolling back container anshello to the checkout at \/var\/lib\/containers\/atomic\/anshello\.0/);
    assert.equal(fs.readlinkSync(`${CK}/${NAME}`), `${CK}/${NAME}.0`);
    assert.equal(unitState(NAME), 'active');
    assert.equal(await waitHttp(P, /1\.0/), 'Hello Ansible from systest 1.0\n');
  });

  it('atomic_container absent: changed=true, stopped and removed', async () => {
    const r = container('absent', IMG1);
    ok(r, true, 'absent');
    assert.ok(await waitClosed(P), 'the service stopped');
    for (const f of [`/etc/systemd/system/${NAME}.service`, `/etc/tmpfiles.d/${NAME}.conf`, `${CK}/${NAME}`, `${CK}/${NAME}.0`, `${CK}/${NAME}.1`]) assert.ok(!fs.existsSync(f), `${f} removed`);
    assert.deepEqual(runcIds(), []);
  });

  it('atomic_container absent again: changed=false', () => {
    const r = container('absent', IMG1);
    ok(r, false, 'absent again');
    assert.match(r.msg, /The container is not present/);
  });

  it('atomic_container without mode (atomic\'s ostree backend): a system container for the image', () => {
    const r = ansible('atomic_container', { name: 'ansnomode', image: IMG1, backend: 'ostree', state: 'present' });
    ok(r, true, 'present without mode');
    assert.ok(fs.existsSync('/etc/systemd/system/ansnomode.service'), 'a system container was installed');
    assert.equal(systemctl('is-enabled', 'ansnomode').stdout.trim(), 'enabled');
    ok(ansible('atomic_container', { name: 'ansnomode', image: IMG1, backend: 'ostree', state: 'absent' }), true, 'absent without mode');
    assert.ok(!fs.existsSync('/etc/systemd/system/ansnomode.service'));
  });

  it('atomic_image present (started=yes by default): pulled (changed=true); the run step fails fast instead of running the image', () => {
    const r = ansible('atomic_image', { name: IMG3, backend: 'ostree', state: 'present' });
    ok(r, true, 'image pull');
    assert.match(r.msg, /Copying blob sha256:/);
    assert.ok(r.seconds < 240, `the module returned (${r.seconds}s)`);
    assert.deepEqual(runcIds(), [], 'nothing was run');
    const list = spawnSync(path.join(binDir, 'atomic'), ['images', 'list', '--json'], { encoding: 'utf8' });
    assert.ok((JSON.parse(list.stdout) as Array<{ repo: string }>).some((i) => i.repo === `${reg!.host}/fixtures/layered`), list.stdout);
  });

  it('atomic_image present again: changed=false (no "Copying blob" when everything is present)', () => {
    const r = ansible('atomic_image', { name: IMG3, backend: 'ostree', state: 'present' });
    ok(r, false, 'image pull again');
    assert.match(r.msg, /Skipping blob sha256:[0-9a-f]{12} \(already present\)/);
    assert.deepEqual(runcIds(), []);
  });
});
