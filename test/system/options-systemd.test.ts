/**
 * Option records (docs/options.md) under a real systemd with real runc: MaxMemory read back from
 * the container's cgroup, DataMount/MountPath data surviving update and rollback, Interlinked
 * start order, a `config` change rolled back restoring the previous limits, and bad keys, values,
 * links and cycles refused with nothing changed. Run with scripts/test-system.sh.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureImages } from '../helpers/fixtures.js';
import { cgroupSupport } from '../../src/host/cgroups.js';
import { scmiImage, scmiLabel } from '../helpers/scmi-image.js';
import { underSystemd, atomicHost, freePort, waitHttp, httpGet as httpGetOnce, waitFor, systemctl, unitState, cgroupsNamed, runcIds, sh, type Run } from '../helpers/system.js';

const CK = '/var/lib/containers/atomic';

function ok(r: Run, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** memory.max of the container's own cgroup (runc-NAME.scope with --systemd-cgroup, else .../NAME). */
function containerMemoryMax(name: string): string | null {
  const dirs = [...cgroupsNamed(`runc-${name}.scope`)];
  for (const d of dirs) {
    try {
      return fs.readFileSync(path.join(d, 'memory.max'), 'utf8').trim();
    } catch {
      /* next */
    }
  }
  return null;
}

/** What of container NAME could be left on the machine (files, runc state, units). */
function leftovers(name: string): string[] {
  const left = [`/etc/systemd/system/${name}.service`, `/etc/tmpfiles.d/${name}.conf`, `${CK}/${name}`, `${CK}/${name}.0`, `${CK}/${name}.1`].filter((f) => fs.existsSync(f));
  if (runcIds().includes(name)) left.push(`runc state of ${name}`);
  const units = systemctl('list-units', '--all', '--no-legend', `${name}.service`).stdout.trim();
  if (units) left.push(`list-units: ${units}`);
  return left;
}

function unitProp(unit: string, prop: string): string {
  return systemctl('show', '-p', prop, '--value', unit).stdout.trim();
}

/** Every file of the machine that a record change could touch, with content (for "nothing changed"). */
function snapshot(names: string[]): string {
  const files: string[] = [];
  const add = (p: string) => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    if (st.isSymbolicLink()) files.push(`${p} -> ${fs.readlinkSync(p)}`);
    else if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) add(path.join(p, n));
    else files.push(`${p} ${st.size} ${st.mtimeMs} ${fs.readFileSync(p, 'utf8').length < 100000 ? fs.readFileSync(p, 'utf8') : ''}`);
  };
  for (const n of names) {
    for (const p of [`/etc/systemd/system/${n}.service`, `/etc/systemd/system/${n}.service.d`, `/etc/tmpfiles.d/${n}.conf`, `/etc/containers/atomic/${n}.conf`, `${CK}/${n}`])
      add(p);
    for (const s of ['0', '1']) for (const f of ['config.json', 'info', 'options.json', `${n}.service`]) add(`${CK}/${n}.${s}/${f}`);
  }
  add('/etc/systemd/system/timers.target.wants');
  return files.join('\n');
}

/**
 * The container's limit: read from its cgroup when this kernel has the memory controller in the
 * unified hierarchy; else (a kernel that binds memory to cgroup v1, as on the machine this suite
 * was written on) config.json must carry no limit (runc could not start it) and atomic must say so.
 */
async function assertContainerMemory(name: string, slot: string, bytes: number, installOut: string): Promise<void> {
  const cfg = fs.readFileSync(`${CK}/${name}.${slot}/config.json`, 'utf8');
  if (cgroupSupport().memory) {
    assert.match(cfg, new RegExp(`"limit": ${bytes}\\b`));
    assert.equal(await waitFor(() => containerMemoryMax(name) === String(bytes)), true, `container memory.max: ${containerMemoryMax(name)}`);
  } else {
    assert.doesNotMatch(cfg, /"limit"/);
    if (installOut) assert.match(installOut, /MaxMemory=\S+ is recorded but this host cannot enforce it: no memory cgroup controller/);
  }
  // systemd's own limit of the unit, as systemd reads it from the drop-in
  assert.equal(unitProp(`${name}.service`, 'MemoryMax'), String(bytes));
}

describe('system: option records under a real systemd', function () {
  this.timeout(300_000);
  let fx: string;
  let IMG: string;
  let PA: number;
  let PB: number;

  before(async function () {
    assert.ok(underSystemd(), 'the system suite runs only inside the systemd harness: use `npm run test:system`');
    fx = fixtureImages();
    IMG = `oci:${fx}/oci:systest`;
    PA = await freePort();
    PB = await freePort();
    while (PB === PA) PB = await freePort();
    ok(atomicHost(['pull', IMG]), 'pull');
    ok(atomicHost(['pull', `oci:${fx}/oci:systest-update`]), 'pull update');
  });

  const cleanups: (() => void)[] = [];
  after(() => {
    for (const n of ['optnet', 'optb', 'opta']) atomicHost(['uninstall', n]);
    for (const c of cleanups) c();
  });

  it('install --option MaxMemory=512 DataMount=host MountPath=...: the container cgroup has a 512 MiB limit, the unit MemoryMax', async () => {
    fs.mkdirSync('/srv/optest-ro', { recursive: true });
    fs.writeFileSync('/srv/optest-ro/hello.txt', 'from the host\n');
    const inst = atomicHost([
      'install',
      '--system',
      '--name',
      'opta',
      '--set',
      `PORT=${PA}`,
      '--option',
      'MaxMemory=512',
      '--option',
      'DataMount=host',
      '--option',
      'DataMountPath=/data',
      '--option',
      'MountPath=/srv/optest-ro:/srv/ro:ro',
      '--option',
      'TCPPort=8081',
      IMG,
    ]);
    ok(inst, 'install opta');
    const dropIn = fs.readFileSync('/etc/systemd/system/opta.service.d/50-atomic-options.conf', 'utf8');
    assert.match(dropIn, /^MemoryMax=536870912$/m);
    assert.match(fs.readFileSync('/etc/containers/atomic/opta.conf', 'utf8'), /^MaxMemory=512$/m);
    assert.ok(fs.statSync('/var/lib/atomic-data/opta').isDirectory(), 'tmpfiles created the host data dir');
    ok(systemctl('start', 'opta'), 'start');
    assert.equal(await waitHttp(PA, /Hello/), 'Hello World from systest 1.0\n');
    await assertContainerMemory('opta', '0', 512 * 1024 * 1024, inst.stdout + inst.stderr);
    const shown = ok(atomicHost(['containers', 'config', 'opta']), 'config');
    assert.match(shown, /^MaxMemory=512$/m);
    assert.match(shown, /^TCPPort=8081$/m);
    const json = JSON.parse(ok(atomicHost(['containers', 'config', 'opta', '--json']), 'config --json')) as { deployed: Record<string, string>; pending: boolean };
    assert.equal(json.deployed.DataMountPath, '/data');
    assert.equal(json.pending, false);
  });

  /** `runc exec NAME ARGS` once the (re)started container is running. */
  async function execIn(name: string, args: string[], what: string): Promise<string> {
    await waitFor(() => sh('runc', ['state', name]).stdout.includes('"status": "running"'), 15_000);
    return ok(sh('runc', ['exec', name, ...args]), what);
  }

  it('data written to DataMountPath survives update and rollback; MountPath is read-only inside', async () => {
    await execIn('opta', ['sh', '-c', 'echo precious > /data/f'], 'write data');
    assert.equal(fs.readFileSync('/var/lib/atomic-data/opta/f', 'utf8'), 'precious\n');
    assert.equal(ok(sh('runc', ['exec', 'opta', 'cat', '/srv/ro/hello.txt']), 'read bind'), 'from the host\n');
    assert.notEqual(sh('runc', ['exec', 'opta', 'sh', '-c', 'echo x > /srv/ro/new']).status, 0, 'MountPath :ro is read-only');
    ok(atomicHost(['containers', 'update', '--rebase', `oci:${fx}/oci:systest-update`, 'opta']), 'update --rebase');
    assert.equal(unitState('opta'), 'active');
    assert.equal(await execIn('opta', ['cat', '/data/f'], 'read after update'), 'precious\n');
    // the record persisted across --rebase
    assert.match(fs.readFileSync(`${CK}/opta.1/${'opta'}.service`, 'utf8'), /systest/);
    assert.match(fs.readFileSync('/etc/systemd/system/opta.service.d/50-atomic-options.conf', 'utf8'), /^MemoryMax=536870912$/m);
    assert.equal(JSON.parse(fs.readFileSync(`${CK}/opta.1/options.json`, 'utf8')).record.MaxMemory, '512');
    ok(atomicHost(['containers', 'rollback', 'opta']), 'rollback');
    assert.equal(await execIn('opta', ['cat', '/data/f'], 'read after rollback'), 'precious\n');
  });

  it('a config change while running restarts with the new limit; rollback restores the previous limit and record', async () => {
    ok(atomicHost(['containers', 'config', 'opta', 'MaxMemory=256', 'cpu=50']), 'config');
    assert.equal(unitState('opta'), 'active', 'restarted because it was running');
    await assertContainerMemory('opta', '1', 256 * 1024 * 1024, '');
    assert.equal(unitProp('opta.service', 'CPUQuotaPerSecUSec'), '500ms');
    assert.match(fs.readFileSync('/etc/containers/atomic/opta.conf', 'utf8'), /^MaxMemory=256$/m);
    assert.equal(await waitHttp(PA, /Hello/), 'Hello World from systest 1.0\n');
    ok(atomicHost(['containers', 'rollback', 'opta']), 'rollback');
    assert.equal(unitState('opta'), 'active');
    await assertContainerMemory('opta', '0', 512 * 1024 * 1024, '');
    assert.equal(unitProp('opta.service', 'CPUQuotaPerSecUSec'), 'infinity');
    const conf = fs.readFileSync('/etc/containers/atomic/opta.conf', 'utf8');
    assert.match(conf, /^MaxMemory=512$/m, 'the host record follows the rollback');
    assert.doesNotMatch(conf, /^cpu=/m);
    assert.equal(await execIn('opta', ['cat', '/data/f'], 'data'), 'precious\n');
  });

  it('Interlinked: starting only the dependent starts its link first', async () => {
    ok(systemctl('stop', 'opta'), 'stop opta');
    ok(atomicHost(['install', '--system', '--name', 'optb', '--set', `PORT=${PB}`, '--option', 'Interlinked=opta', IMG]), 'install optb');
    assert.match(fs.readFileSync('/etc/systemd/system/optb.service.d/50-atomic-options.conf', 'utf8'), /^Requires=opta\.service\nAfter=opta\.service$/m);
    assert.equal(unitState('opta'), 'inactive');
    ok(systemctl('start', 'optb'), 'start optb');
    assert.equal(unitState('opta'), 'active', 'Requires= started opta');
    assert.equal(unitState('optb'), 'active');
    const a = Number(unitProp('opta.service', 'ActiveEnterTimestampMonotonic'));
    const b = Number(unitProp('optb.service', 'ExecMainStartTimestampMonotonic'));
    assert.ok(a > 0 && b > 0 && a <= b, `opta active at ${a}, optb started at ${b}`);
    assert.equal(await waitHttp(PB, /Hello/), 'Hello World from systest 1.0\n');
  });

  it('bad keys, values, links and cycles are refused (exit 2) with nothing changed, the service still running', async () => {
    const before = snapshot(['opta', 'optb']);
    const bad: [string[], RegExp][] = [
      [['containers', 'config', 'opta', 'Foo=1'], /Unknown option key 'Foo'\. Valid keys: status, /],
      [['containers', 'config', 'opta', 'MaxMemory=lots'], /invalid value "lots" for MaxMemory: expected a size/],
      [['containers', 'config', 'opta', 'SubDomain=www'], /SubDomain cannot be used here/],
      [['containers', 'config', 'optb', 'Interlinked=nosuch'], /no system container named 'nosuch' is installed/],
      [['containers', 'config', 'opta', 'Interlinked=optb'], /makes a cycle: opta -> optb -> opta/],
      [['containers', 'config', 'opta', 'StartAt=someday'], /invalid value "someday" for StartAt: expected a systemd calendar expression/],
      [['install', '--system', '--name', 'optc', '--option', 'network=wifi', IMG], /invalid value "wifi" for network: expected host, none or bridge/],
    ];
    for (const [args, re] of bad) {
      const r = atomicHost(args);
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
    }
    assert.equal(snapshot(['opta', 'optb']), before, 'nothing changed on disk');
    assert.deepEqual(leftovers('optc'), []);
    assert.equal(unitState('optb'), 'active');
    assert.equal(await waitHttp(PB, /Hello/), 'Hello World from systest 1.0\n');
    // a hand-written host file with a bad value is refused by update, naming file and line
    fs.writeFileSync('/etc/containers/atomic/optb.conf', '[optb]\nInterlinked=opta\nMaxMemory=1T\n');
    const r = atomicHost(['containers', 'update', 'optb']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /\/etc\/containers\/atomic\/optb\.conf: invalid value "1T" for MaxMemory/);
    fs.writeFileSync('/etc/containers/atomic/optb.conf', '# managed by Ansible\n[optb]\nInterlinked = opta\nMaxMemory = 128M\n');
    ok(atomicHost(['containers', 'update', 'optb']), 'update from the host file');
    assert.match(fs.readFileSync('/etc/systemd/system/optb.service.d/50-atomic-options.conf', 'utf8'), /^MemoryMax=134217728$/m);
    assert.match(fs.readFileSync('/etc/containers/atomic/optb.conf', 'utf8'), /^# managed by Ansible$/m, 'an equal hand-written file is not rewritten');
  });

  it('StartAt/StopAt generate enabled timers; status=disabled disables and stops; uninstall removes it all', () => {
    ok(atomicHost(['containers', 'config', 'optb', 'StartAt=*-*-* 06:00', 'StopAt=*-*-* 22:00']), 'config timers');
    assert.equal(systemctl('is-enabled', 'atomic-start-optb.timer').stdout.trim(), 'enabled');
    assert.equal(systemctl('is-active', 'atomic-stop-optb.timer').stdout.trim(), 'active');
    assert.match(unitProp('atomic-start-optb.timer', 'TimersCalendar'), /OnCalendar=\*-\*-\* 06:00:00/);
    ok(atomicHost(['containers', 'config', 'optb', 'status=disabled', '--unset', 'StartAt', '--unset', 'StopAt']), 'config disabled');
    assert.equal(systemctl('is-enabled', 'optb').stdout.trim(), 'disabled');
    assert.equal(unitState('optb'), 'inactive');
    assert.ok(!fs.existsSync('/etc/systemd/system/atomic-start-optb.timer'));
    assert.notEqual(systemctl('is-active', 'atomic-stop-optb.timer').stdout.trim(), 'active');
    ok(atomicHost(['uninstall', 'optb']), 'uninstall optb');
    ok(atomicHost(['uninstall', 'opta']), 'uninstall opta');
    assert.deepEqual([...leftovers('opta'), ...leftovers('optb')], []);
    for (const f of ['/etc/systemd/system/opta.service.d', '/etc/containers/atomic/opta.conf', '/etc/systemd/system/atomic-stop-optb.service'])
      assert.ok(!fs.existsSync(f), `${f} removed`);
    assert.equal(fs.readFileSync('/var/lib/atomic-data/opta/f', 'utf8'), 'precious\n', 'the data directory is kept');
  });

  it('network=bridge with PortMappingPorts and access=private: answers on 127.0.0.1 only, attached at start and released at stop', async () => {
    // systest serves on 127.0.0.1 inside; in its own namespace it must listen on all its addresses
    const dir = '/tmp/atomic-systest-bridge';
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    ok(sh('skopeo', ['--insecure-policy', 'copy', '-q', IMG, `oci:${dir}/oci:systest`]), 'skopeo copy');
    ok(sh('umoci', ['unpack', '--image', `${dir}/oci:systest`, `${dir}/bundle`]), 'umoci unpack');
    const run = `${dir}/bundle/rootfs/usr/bin/run.sh`;
    fs.writeFileSync(run, fs.readFileSync(run, 'utf8').replace(/-p "127\.0\.0\.1:/, '-p "0.0.0.0:'));
    ok(sh('umoci', ['repack', '--image', `${dir}/oci:bridged`, `${dir}/bundle`]), 'umoci repack');
    const hostPort = await freePort();
    // the harness mounts /proc/sys read-only (systemd-nspawn); on a real host root's CNI plugins
    // write ip_forward and the bridge's route_localnet. The harness shares the host's network
    // namespace: the test puts back ip_forward and removes the bridge afterwards.
    const procSysRo = /^\S+ \/proc\/sys \S+ ro[,\s]/m.test(fs.readFileSync('/proc/mounts', 'utf8'));
    if (procSysRo) ok(sh('mount', ['-o', 'remount,rw', '/proc/sys']), 'remount /proc/sys rw');
    const forward = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    cleanups.push(() => {
      fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', forward);
      sh('ip', ['link', 'delete', 'atomic0']);
      if (procSysRo) sh('mount', ['-o', 'remount,ro', '/proc/sys']);
    });
    ok(
      atomicHost([
        'install',
        '--system',
        '--name',
        'optnet',
        '--set',
        'PORT=8080',
        '--option',
        'network=bridge',
        '--option',
        'PortMapping=custom',
        '--option',
        `PortMappingPorts=${hostPort}:8080`,
        '--option',
        'access=private',
        `oci:${dir}/oci:bridged`,
      ]),
      'install optnet',
    );
    const cfg = JSON.parse(fs.readFileSync(`${CK}/optnet.0/config.json`, 'utf8')) as { linux: { namespaces: { type: string; path?: string }[] } };
    assert.deepEqual(
      cfg.linux.namespaces.find((n) => n.type === 'network'),
      { type: 'network', path: '/run/netns/atomic-optnet' },
    );
    const st = systemctl('start', 'optnet');
    assert.equal(st.status, 0, `start optnet: ${sh('journalctl', ['-u', 'optnet', '--no-pager', '-n', '30']).stdout}`);
    assert.equal(await waitHttp(hostPort, /Hello/, 20_000), 'Hello World from systest 1.0\n', `journal:\n${sh('journalctl', ['-u', 'optnet', '--no-pager', '-n', '30']).stdout}`);
    assert.ok(fs.existsSync('/run/netns/atomic-optnet'), 'the namespace exists while it runs');
    // every other address of this machine (the bridge gateway included) must not answer
    const addrs = sh('ip', ['-4', '-o', 'addr', 'show'])
      .stdout.split('\n')
      .map((l) => /inet (\S+)\//.exec(l)?.[1])
      .filter((a): a is string => !!a && !a.startsWith('127.'));
    assert.ok(addrs.includes('10.89.0.1'), `the atomic0 bridge has its gateway address: ${addrs.join(' ')}`);
    for (const a of addrs) {
      const r = sh('curl', ['-s', '-m', '2', `http://${a}:${hostPort}/`]);
      assert.notEqual(r.status, 0, `${a}:${hostPort} answered: ${r.stdout}`);
    }
    ok(systemctl('stop', 'optnet'), 'stop optnet');
    assert.ok(!fs.existsSync('/run/netns/atomic-optnet'), 'released at stop');
    assert.equal(await httpGetOnce(hostPort), null);
    // public: all addresses
    ok(atomicHost(['containers', 'config', 'optnet', 'access=public']), 'config access=public');
    ok(systemctl('start', 'optnet'), 'start public');
    assert.equal(await waitHttp(hostPort, /Hello/, 20_000), 'Hello World from systest 1.0\n');
    const r = await waitFor(() => sh('curl', ['-s', '-m', '2', `http://10.89.0.1:${hostPort}/`]).stdout, 10_000);
    assert.equal(r, 'Hello World from systest 1.0\n', 'access=public answers on the other addresses too');
    ok(atomicHost(['uninstall', 'optnet']), 'uninstall optnet');
    assert.ok(!fs.existsSync('/run/netns/atomic-optnet'));
    assert.deepEqual(leftovers('optnet'), []);
  });
});

describe('system: an SCMI-like label installer on a host without docker or podman', function () {
  this.timeout(300_000);
  const unit = '/etc/systemd/system/centos-ssh.ssh.3.service';
  let noEngine: Record<string, string>;

  before(() => {
    assert.ok(underSystemd(), 'the system suite runs only inside the systemd harness');
    const work = '/tmp/atomic-systest-scmi';
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(path.join(work, 'empty'), { recursive: true });
    noEngine = { ATOMIC_ENGINE_PATH: path.join(work, 'empty') };
    const src = scmiImage(work, 'scmi-test', { install: scmiLabel('install', 'scmi-test:latest'), uninstall: scmiLabel('uninstall', 'scmi-test:latest') });
    ok(atomicHost(['pull', src], noEngine), 'pull');
  });

  it('install -n ssh.3 IMAGE --info prints the info; install writes the unit into / and systemd loads it; uninstall removes it', () => {
    const info = ok(atomicHost(['install', '-n', 'ssh.3', 'scmi-test:latest', '--info'], noEngine), 'install --info');
    assert.match(info, /^Name: ssh\.3$/m);
    assert.ok(!fs.existsSync(unit));
    ok(atomicHost(['install', '-n', 'ssh.3', 'scmi-test:latest', '--manager=systemd'], noEngine), 'install');
    assert.match(fs.readFileSync(unit, 'utf8'), /^ExecStart=\/usr\/bin\/docker run --name ssh\.3 --volume ssh\.3\.config-ssh:\/etc\/ssh jdeathe\/centos-ssh:1\.0$/m);
    ok(systemctl('daemon-reload'), 'daemon-reload');
    assert.equal(unitProp('centos-ssh.ssh.3.service', 'LoadState'), 'loaded');
    assert.deepEqual(
      runcIds().filter((i) => i.startsWith('ssh.3')),
      [],
      'the installer container is gone',
    );
    ok(atomicHost(['uninstall', '-n', 'ssh.3', 'scmi-test:latest'], noEngine), 'uninstall');
    assert.ok(!fs.existsSync(unit));
  });
});
