/**
 * Clean stops under a real systemd with real runc (docs/image-format.md, "PID 1 and signals"), with
 * images this test builds from the systest fixture:
 *   pid1-httpd   busybox httpd is PID 1 (run.sh ends with `exec httpd`): it ignores SIGTERM
 *   usr1         PID 1 ignores SIGTERM and exits on SIGUSR1; the image config says StopSignal=SIGUSR1
 * A SIGTERM-ignoring PID 1 stops within --stop-timeout and ends `inactive` (not `failed`); with
 * --init (catatonit as PID 1) it stops at once; the image's StopSignal is what the stop sends.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { fixtureImages } from '../helpers/fixtures.js';
import { underSystemd, atomicHost, freePort, waitHttp, waitClosed, systemctl, unitState, runcIds, sh, type Run } from '../helpers/system.js';

const DIR = '/tmp/atomic-systest-stop';

function ok(r: Run, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function variant(tag: string, runSh: string, stopSignal?: string): void {
  const b = `${DIR}/b-${tag}`;
  fs.rmSync(b, { recursive: true, force: true });
  ok(sh('umoci', ['unpack', '--image', `${DIR}/oci:systest`, b]), `umoci unpack ${tag}`);
  fs.writeFileSync(`${b}/rootfs/usr/bin/run.sh`, runSh, { mode: 0o755 });
  ok(sh('umoci', ['repack', '--image', `${DIR}/oci:${tag}`, b]), `umoci repack ${tag}`);
  if (stopSignal) ok(sh('umoci', ['config', '--image', `${DIR}/oci:${tag}`, '--config.stopsignal', stopSignal]), 'umoci config');
}

/** `systemctl stop NAME` and how long it took (ms). */
function timedStop(name: string): number {
  const t0 = Date.now();
  ok(systemctl('stop', name), `stop ${name}`);
  return Date.now() - t0;
}

const result = (name: string): string => systemctl('show', '-p', 'Result', '--value', name).stdout.trim();

describe('system: clean stops (stop signal, stop timeout, --init)', function () {
  this.timeout(300_000);
  const figures: string[] = [];

  before(() => {
    assert.ok(underSystemd(), 'the system suite runs only inside the systemd harness: use `npm run test:system`');
    const fx = fixtureImages();
    fs.rmSync(DIR, { recursive: true, force: true });
    fs.mkdirSync(DIR, { recursive: true });
    ok(sh('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${fx}/oci:systest`, `oci:${DIR}/oci:systest`]), 'skopeo copy');
    variant('pid1-httpd', '#!/bin/sh\nmkdir -p /tmp/www\necho "pid1 httpd" > /tmp/www/index.html\nexec /bin/httpd -f -p "127.0.0.1:${PORT}" -h /tmp/www\n');
    variant(
      'usr1',
      '#!/bin/sh\nmkdir -p /tmp/www\necho "usr1" > /tmp/www/index.html\n/bin/httpd -f -p "127.0.0.1:${PORT}" -h /tmp/www &\ntrap "" TERM\ntrap "kill $!; exit 0" USR1\nwhile :; do wait; done\n',
      'SIGUSR1',
    );
  });

  after(() => {
    console.log(`      clean stops:\n${figures.map((f) => `        - ${f}`).join('\n')}`);
    for (const n of ['stopper', 'stopinit', 'stopusr1']) atomicHost(['uninstall', n]);
  });

  it('a SIGTERM-ignoring PID 1 stops within --stop-timeout and ends inactive, not failed', async () => {
    const port = await freePort();
    ok(atomicHost(['install', '--system', '--name', 'stopper', '--stop-timeout', '3', '--set', `PORT=${port}`, `oci:${DIR}/oci:pid1-httpd`]), 'install');
    const unit = fs.readFileSync('/etc/systemd/system/stopper.service', 'utf8');
    assert.match(unit, /kill stopper TERM .*end=\$\$\(\(\$\$\(date \+%%s\)\+3\)\)/, 'ExecStop waits 3 s');
    ok(systemctl('start', 'stopper'), 'start');
    assert.equal(await waitHttp(port, /pid1/), 'pid1 httpd\n');
    const ms = timedStop('stopper');
    assert.ok(ms >= 1500 && ms < 4500, `stop took ${ms} ms (3 s timeout expected)`);
    assert.equal(unitState('stopper'), 'inactive');
    assert.equal(result('stopper'), 'success');
    assert.ok(await waitClosed(port), 'the killed daemon is gone');
    assert.ok(!runcIds().includes('stopper'));
    // a restart goes the same way, and a crash is still a failure that Restart= handles
    ok(systemctl('start', 'stopper'), 'start again');
    assert.equal(await waitHttp(port, /pid1/), 'pid1 httpd\n');
    figures.push(`SIGTERM-ignoring PID 1, --stop-timeout 3: stopped in ${(ms / 1000).toFixed(1)} s, inactive (Result=success)`);
    const ms2 = timedStop('stopper');
    assert.equal(unitState('stopper'), 'inactive');
    figures.push(`  second stop: ${(ms2 / 1000).toFixed(1)} s, inactive`);
  });

  it('with --init (catatonit as PID 1) the same daemon stops at once and ends inactive', async () => {
    const port = await freePort();
    ok(atomicHost(['install', '--system', '--name', 'stopinit', '--init', '--set', `PORT=${port}`, `oci:${DIR}/oci:pid1-httpd`]), 'install --init');
    const cfg = JSON.parse(fs.readFileSync('/var/lib/containers/atomic/stopinit/config.json', 'utf8')) as { process: { args: string[] }; mounts: { destination: string; source: string; options: string[] }[] };
    assert.deepEqual(cfg.process.args.slice(0, 2), ['/dev/init', '--']);
    const m = cfg.mounts.find((x) => x.destination === '/dev/init');
    assert.ok(m && m.source.endsWith('catatonit') && m.options.includes('ro'), JSON.stringify(m));
    ok(systemctl('start', 'stopinit'), 'start');
    assert.equal(await waitHttp(port, /pid1/), 'pid1 httpd\n');
    const ms = timedStop('stopinit');
    assert.ok(ms < 2000, `stop took ${ms} ms`);
    assert.equal(unitState('stopinit'), 'inactive');
    assert.equal(result('stopinit'), 'success');
    assert.ok(await waitClosed(port));
    figures.push(`same daemon with --init: stopped in ${(ms / 1000).toFixed(1)} s, inactive`);
  });

  it("the image config's StopSignal is the signal the stop sends", async () => {
    const port = await freePort();
    ok(atomicHost(['install', '--system', '--name', 'stopusr1', '--set', `PORT=${port}`, `oci:${DIR}/oci:usr1`]), 'install');
    assert.match(fs.readFileSync('/etc/systemd/system/stopusr1.service', 'utf8'), /kill stopusr1 USR1 /);
    ok(systemctl('start', 'stopusr1'), 'start');
    assert.equal(await waitHttp(port, /usr1/), 'usr1\n');
    const ms = timedStop('stopusr1');
    assert.ok(ms < 3000, `stop took ${ms} ms`);
    assert.equal(unitState('stopusr1'), 'inactive');
    assert.equal(result('stopusr1'), 'success');
    figures.push(`StopSignal=SIGUSR1 from the image config: stopped in ${(ms / 1000).toFixed(1)} s`);
  });
});
