/**
 * End to end under a real systemd (PID 1 of the with-systemd harness) with real runc:
 * install from the real registry (Bearer auth) and from an OCI layout, start/stop/restart the
 * generated unit, update (rebase and --set) and roll back while running, uninstall leaving
 * nothing behind, a failing container, and the detached (pidfile) unit form.
 * Run with `npm run test:system` (scripts/test-system.sh); skipped with a message elsewhere.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureImages } from '../helpers/fixtures.js';
import {
  underSystemd, atomicHost, freePort, waitHttp, waitClosed, waitFor, systemctl, unitState, runcIds, processesInCgroup, cgroupsNamed,
  ostreeFsck, startRegistry, sh, type Registry,
} from '../helpers/system.js';

const CK = '/var/lib/containers/atomic';
const REPO = `${CK}/.storage/ostree`;

function ok(r: { status: number; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Everything of container NAME that could be left on the machine; [] when it is entirely gone. */
export function leftovers(name: string): string[] {
  const left: string[] = [];
  for (const f of [`/etc/systemd/system/${name}.service`, `/etc/tmpfiles.d/${name}.conf`, `${CK}/${name}`, `${CK}/${name}.0`, `${CK}/${name}.1`, `${CK}/.atomic/journal/${name}.json`, `/run/runc/${name}`]) {
    if (fs.existsSync(f)) left.push(f);
  }
  if (runcIds().includes(name)) left.push(`runc state of ${name}`);
  const files = systemctl('list-unit-files', '--no-legend', `${name}.service`).stdout.trim();
  if (files) left.push(`list-unit-files: ${files}`);
  const units = systemctl('list-units', '--all', '--no-legend', `${name}.service`, `runc-${name}.scope`).stdout.trim();
  if (units) left.push(`list-units: ${units}`);
  for (const p of [...processesInCgroup(`/${name}.service`), ...processesInCgroup(`runc-${name}.scope`)]) left.push(`process ${p}`);
  for (const c of [...cgroupsNamed(`${name}.service`), ...cgroupsNamed(`runc-${name}.scope`)]) left.push(`cgroup ${c}`);
  return left;
}

describe('system: generated units under a real systemd with real runc', function () {
  this.timeout(300_000);
  let fx: string;
  let reg: Registry | undefined;
  let P1: number;
  let P2: number;

  before(async function () {
    assert.ok(underSystemd(), 'the system suite runs only inside the systemd harness: use `npm run test:system` (npm test runs it)');
    fx = fixtureImages();
    reg = await startRegistry(fx, '/tmp/atomic-systest-registry');
    P1 = await freePort();
    P2 = await freePort();
    while (P2 === P1) P2 = await freePort();
  });
  after(() => reg?.stop());

  describe('hello from the registry: install, start, update, rollback, uninstall', () => {
    const NAME = 'hello';
    it('install --system from docker:// (Bearer auth) renders, enables and creates the tmpfiles dirs', () => {
      const out = ok(atomicHost(['install', '--system', '--name', NAME, '--set', 'RECEIVER=Mars', '--set', `PORT=${P1}`, `docker://${reg!.host}/fixtures/systest`]), 'install');
      assert.match(out, /^systemctl daemon-reload$/m);
      assert.match(out, /^systemd-tmpfiles --create \/etc\/tmpfiles\.d\/hello\.conf$/m);
      assert.match(out, /^systemctl enable hello\.service$/m);
      const unit = fs.readFileSync('/etc/systemd/system/hello.service', 'utf8');
      // the hardened foreground form (src/render/values.ts, docs/reliability.md)
      // (sh stays the main process: an exit after a requested stop is clean, docs/image-format.md "PID 1 and signals")
      assert.match(unit, /^ExecStart=\/bin\/sh -c 'rm -f \/run\/atomic-stopping-hello; \S*runc --systemd-cgroup delete -f hello >\/dev\/null 2>&1; \S*runc --systemd-cgroup run hello; rc=\$\$\?; .*exit \$\$rc'$/m);
      assert.match(unit, /^ExecStop=\/bin\/sh -c 'touch \/run\/atomic-stopping-hello; \S*runc --systemd-cgroup kill hello TERM .* delete -f hello >\/dev\/null 2>&1; exit 0'$/m);
      // systemd-tmpfiles created what the template asks for
      const st = fs.statSync('/var/lib/hello');
      assert.ok(st.isDirectory() && (st.mode & 0o777) === 0o700, 'tmpfiles: /var/lib/hello 0700');
      assert.ok(fs.statSync('/run/hello').isDirectory(), 'tmpfiles: /run/hello');
      assert.equal(systemctl('is-enabled', NAME).stdout.trim(), 'enabled');
      assert.equal(unitState(NAME), 'inactive', 'install does not start the unit');
    });

    it('systemctl start: active, answers over HTTP from the host, `containers list` says running', async () => {
      ok(systemctl('start', NAME), 'systemctl start');
      assert.equal(unitState(NAME), 'active');
      assert.equal(await waitHttp(P1, /Hello/), 'Hello Mars from systest 1.0\n');
      const list = ok(atomicHost(['containers', 'list', '--no-trunc']), 'containers list');
      assert.match(list, /^\s+hello\s+127\.0\.0\.1:\d+\/fixtures\/systest:latest\s+hello\s+\/usr\/bin\/run\.sh\s+\S+ \S+\s+running\s+ostree/m);
      assert.deepEqual(runcIds(), [NAME]);
    });

    it('systemctl stop / start / restart work on deployment 0; stop leaves no container behind', async () => {
      ok(systemctl('stop', NAME), 'stop');
      assert.equal(unitState(NAME), 'inactive');
      assert.ok(await waitClosed(P1), 'port closed after stop');
      assert.deepEqual(runcIds(), [], 'no runc state after stop');
      assert.deepEqual(processesInCgroup('runc-hello.scope'), []);
      ok(systemctl('start', NAME), 'start');
      assert.equal(await waitHttp(P1, /Hello/), 'Hello Mars from systest 1.0\n');
      const pid1 = systemctl('show', '-p', 'MainPID', '--value', NAME).stdout.trim();
      ok(systemctl('restart', NAME), 'restart');
      assert.equal(unitState(NAME), 'active');
      assert.notEqual(systemctl('show', '-p', 'MainPID', '--value', NAME).stdout.trim(), pid1, 'restart made a new main process');
      assert.equal(await waitHttp(P1, /Hello/), 'Hello Mars from systest 1.0\n');
    });

    it('containers update --set PORT=... while running moves the port (restarted on the new deployment)', async () => {
      const out = ok(atomicHost(['containers', 'update', '--set', `PORT=${P2}`, NAME]), 'update --set');
      assert.match(out, /Extracting to \/var\/lib\/containers\/atomic\/hello\.1/);
      assert.equal(fs.readlinkSync(`${CK}/hello`), `${CK}/hello.1`);
      assert.equal(unitState(NAME), 'active');
      assert.equal(await waitHttp(P2, /Hello/), 'Hello Mars from systest 1.0\n');
      assert.ok(await waitClosed(P1), 'old port closed');
      assert.match(fs.readFileSync('/etc/systemd/system/hello.service', 'utf8'), /WorkingDirectory=\/var\/lib\/containers\/atomic\/hello\.1/);
    });

    it('containers update --rebase systest-update while running: restarted on 2.0', async () => {
      ok(atomicHost(['containers', 'update', '--rebase', `docker://${reg!.host}/fixtures/systest-update`, NAME]), 'update --rebase');
      assert.equal(fs.readlinkSync(`${CK}/hello`), `${CK}/hello.0`);
      assert.equal(unitState(NAME), 'active');
      assert.equal(await waitHttp(P2, /2\.0/), 'Hello Mars from systest 2.0\n');
      for (const verb of ['stop', 'start', 'restart']) {
        ok(systemctl(verb, NAME), verb);
        // run.sh is PID 1 of the container and ignores SIGTERM until its trap is set: let it get there
        if (verb !== 'stop') assert.equal(await waitHttp(P2, /Hello/), 'Hello Mars from systest 2.0\n');
      }
      assert.deepEqual(runcIds(), [NAME]);
    });

    it('containers rollback brings 1.0 back, still running; stop/start/restart work there too', async () => {
      ok(atomicHost(['containers', 'rollback', NAME]), 'rollback');
      assert.equal(fs.readlinkSync(`${CK}/hello`), `${CK}/hello.1`);
      assert.equal(unitState(NAME), 'active');
      assert.equal(await waitHttp(P2, /1\.0/), 'Hello Mars from systest 1.0\n');
      ok(systemctl('stop', NAME), 'stop');
      assert.deepEqual(runcIds(), []);
      ok(systemctl('start', NAME), 'start');
      assert.equal(await waitHttp(P2, /Hello/), 'Hello Mars from systest 1.0\n');
      ok(systemctl('restart', NAME), 'restart');
      assert.equal(await waitHttp(P2, /Hello/), 'Hello Mars from systest 1.0\n');
    });

    it('runc killed with SIGKILL: Restart= brings it back (ExecStart deletes the orphaned container first)', async () => {
      const main = systemctl('show', '-p', 'MainPID', '--value', NAME).stdout.trim();
      assert.match(main, /^[1-9]\d*$/);
      const before = JSON.parse(sh('runc', ['state', NAME]).stdout) as { pid: number };
      process.kill(Number(main), 'SIGKILL');
      const back = await waitFor(() => {
        const m = systemctl('show', '-p', 'MainPID', '--value', NAME).stdout.trim();
        const st = sh('runc', ['state', NAME]);
        return m !== main && m !== '0' && unitState(NAME) === 'active' && st.status === 0 && (JSON.parse(st.stdout) as { pid: number }).pid !== before.pid;
      }, 30_000);
      assert.ok(back, `not restarted: ${systemctl('status', NAME).stdout}`);
      assert.ok(!fs.existsSync(`/proc/${before.pid}`) || !fs.readFileSync(`/proc/${before.pid}/cmdline`, 'utf8').includes('run.sh'), 'the orphaned container was killed');
      // runc's list can lag its state file while the restarted container settles (and `runc list`
      // exits non-zero when a state directory vanishes under it): wait for one clean listing
      const settled = await waitFor(() => {
        const l = sh('runc', ['list', '-q']);
        return l.status === 0 && l.stdout.split('\n').filter(Boolean).join(',') === NAME;
      }, 30_000);
      const diag = () =>
        `runc list: ${JSON.stringify(sh('runc', ['list']))}\n${systemctl('status', '--no-pager', '-n', '30', NAME).stdout}`;
      assert.ok(settled, `the restarted container is not the only one listed:\n${diag()}`);
      assert.equal(await waitHttp(P2, /Hello/), 'Hello Mars from systest 1.0\n');
    });

    it('a container left behind outside systemd is reaped by update (runc delete -f) before the restart', async () => {
      // simulate an orphan: the unit is stopped but the runtime still has the container
      ok(systemctl('stop', NAME), 'stop');
      // (stdio to /dev/null: the detached container would otherwise hold our pipes open)
      ok(sh('sh', ['-c', `runc --systemd-cgroup run -d --bundle ${CK}/hello.1 ${NAME} </dev/null >/dev/null 2>&1`]), 'runc run -d by hand');
      assert.deepEqual(runcIds(), [NAME]);
      const out = ok(atomicHost(['containers', 'update', '--set', `PORT=${P1}`, NAME]), 'update');
      assert.match(out, /^runc delete -f hello$/m);
      ok(systemctl('start', NAME), 'start');
      assert.equal(await waitHttp(P1, /Hello/), 'Hello Mars from systest 1.0\n');
    });

    it('uninstall stops and removes everything; the store fscks clean with the real ostree', async () => {
      const out = ok(atomicHost(['uninstall', NAME]), 'uninstall');
      assert.match(out, /^systemctl disable --now hello\.service$/m);
      assert.ok(await waitClosed(P1), 'port closed');
      assert.deepEqual(leftovers(NAME), []);
      assert.ok(!fs.existsSync('/etc/tmpfiles.d/hello.conf'));
      const f = ostreeFsck(REPO);
      assert.equal(f.status, 0, f.stderr);
      assert.equal(ok(atomicHost(['containers', 'list', '-a', '-q']), 'list').trim(), '');
    });
  });

  describe('other sources and unit forms', () => {
    it('install from an OCI layout (oci:DIR:systest), start, HTTP, uninstall', async () => {
      const port = await freePort();
      ok(atomicHost(['install', '--system', '--name', 'hello-oci', '--set', `PORT=${port}`, `oci:${fx}/oci:systest`]), 'install oci');
      ok(systemctl('start', 'hello-oci'), 'start');
      assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest 1.0\n');
      ok(atomicHost(['uninstall', 'hello-oci']), 'uninstall');
      assert.ok(await waitClosed(port));
      assert.deepEqual(leftovers('hello-oci'), []);
    });

    it('a container whose process exits non-zero shows `failed` in containers list', async () => {
      ok(atomicHost(['install', '--system', '--name', 'broken', '--set', 'PORT=not-a-port', `oci:${fx}/oci:systest`]), 'install');
      systemctl('start', 'broken');
      // Restart=on-failure retries until systemd's start limit, then the unit is failed
      await waitFor(() => unitState('broken') === 'failed', 20_000);
      assert.equal(unitState('broken'), 'failed', systemctl('status', 'broken').stdout);
      const list = ok(atomicHost(['containers', 'list', '-a', '--no-trunc']), 'list');
      assert.match(list, /^\s+broken\s.*\sfailed\s+ostree/m);
      const j = JSON.parse(ok(atomicHost(['containers', 'list', '-a', '--json']), 'list --json')) as { name: string; state: string; running: boolean }[];
      assert.deepEqual(j.filter((r) => r.name === 'broken').map((r) => [r.state, r.running]), [['failed', false]]);
      ok(atomicHost(['uninstall', 'broken']), 'uninstall');
      assert.deepEqual(leftovers('broken'), []);
      assert.equal(systemctl('list-units', '--all', '--no-legend', 'broken.service').stdout.trim(), '', 'failed state reset');
    });

    it('--user: a unit for a non-root user runs under `systemctl --user` (user@UID.service manager)', async () => {
      const uid = 23456;
      const user = 'atomicsys';
      if (sh('id', ['-u', user]).status !== 0) ok(sh('useradd', ['-m', '-u', String(uid), '-s', '/bin/sh', user]), 'useradd');
      ok(systemctl('start', `user@${uid}.service`), 'start the user manager');
      const xdg = `/run/user/${uid}`;
      const env = ['env', `XDG_RUNTIME_DIR=${xdg}`, `DBUS_SESSION_BUS_ADDRESS=unix:path=${xdg}/bus`, `HOME=/home/${user}`, `PATH=${process.env.PATH}`];
      const asUser = (cmd: string[]) => sh('runuser', ['-u', user, '--', ...env, ...cmd]);
      const atomicU = (args: string[]) => asUser([process.execPath, path.resolve('bin/run.js'), ...args]);
      const port = await freePort();
      try {
        const out = ok(atomicU(['install', '--user', '--name', 'hu', '--set', `PORT=${port}`, `oci:${fx}/oci:systest`]), 'install --user');
        assert.match(out, /^systemctl --user enable hu.service$/m);
        const unitFile = `/home/${user}/.config/systemd/user/hu.service`;
        assert.match(fs.readFileSync(unitFile, 'utf8'), / \S*runc run hu; rc=/m, 'no --systemd-cgroup in user mode');
        ok(asUser(['systemctl', '--user', 'start', 'hu']), 'systemctl --user start');
        assert.equal(asUser(['systemctl', '--user', 'is-active', 'hu']).stdout.trim(), 'active');
        assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest 1.0\n');
        assert.match(ok(atomicU(['containers', 'list', '--no-trunc']), 'list'), /^\s+hu\s.*\srunning\s+ostree/m);
        ok(asUser(['systemctl', '--user', 'restart', 'hu']), 'restart');
        assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest 1.0\n');
        ok(atomicU(['uninstall', 'hu']), 'uninstall --user');
        assert.ok(await waitClosed(port));
        assert.ok(!fs.existsSync(unitFile));
        assert.equal(asUser(['runc', 'list', '-q']).stdout.trim(), '', 'no rootless runc state');
        assert.deepEqual(processesInCgroup('/hu.service'), []);
      } finally {
        systemctl('stop', `user@${uid}.service`);
      }
    });

    it('the detached form (atomic default template: run -d --pid-file, PIDFile=, ExecStopPost=delete) under systemd', async () => {
      const port = await freePort();
      // an image without its own service.template gets atomic's default unit template
      const dir = '/tmp/atomic-systest-nounit';
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      ok(sh('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${fx}/oci:systest`, `oci:${dir}/oci:systest`]), 'skopeo copy');
      ok(sh('umoci', ['unpack', '--image', `${dir}/oci:systest`, `${dir}/bundle`]), 'umoci unpack');
      fs.rmSync(`${dir}/bundle/rootfs/exports/service.template`);
      ok(sh('umoci', ['repack', '--image', `${dir}/oci:nounit`, `${dir}/bundle`]), 'umoci repack');
      ok(atomicHost(['install', '--system', '--name', 'detached', '--set', `PORT=${port}`, `oci:${dir}/oci:nounit`]), 'install');
      const unit = fs.readFileSync('/etc/systemd/system/detached.service', 'utf8');
      assert.match(unit, /^ExecStart=\S*runc {2}--systemd-cgroup run -d --pid-file \/run\/container-detached\.pid 'detached'$/m);
      assert.match(unit, /^ExecStopPost=\S*runc delete 'detached'$/m);
      assert.match(unit, /^PIDFile=\/run\/container-detached\.pid$/m);
      ok(systemctl('start', 'detached'), 'start');
      assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest 1.0\n');
      ok(systemctl('restart', 'detached'), 'restart');
      assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest 1.0\n');
      // systemd supervises the container's init itself (MainPID from the pidfile): if it dies,
      // ExecStopPost deletes the container and Restart=on-failure brings it back
      const main = Number(systemctl('show', '-p', 'MainPID', '--value', 'detached').stdout.trim());
      assert.ok(main > 0);
      process.kill(main, 'SIGKILL');
      await waitFor(() => {
        const m = Number(systemctl('show', '-p', 'MainPID', '--value', 'detached').stdout.trim());
        return m > 0 && m !== main && unitState('detached') === 'active';
      }, 15_000);
      assert.equal(unitState('detached'), 'active');
      assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest 1.0\n');
      ok(systemctl('stop', 'detached'), 'stop');
      assert.deepEqual(runcIds(), [], 'ExecStopPost deleted the container');
      ok(atomicHost(['uninstall', 'detached']), 'uninstall');
      assert.deepEqual(leftovers('detached'), []);
      const f = ostreeFsck(REPO);
      assert.equal(f.status, 0, f.stderr);
    });
  });
});
