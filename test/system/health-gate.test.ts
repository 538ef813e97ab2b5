/**
 * The health gate of `containers update` / `containers rollback` under a real systemd with real
 * runc, with images this test builds from the systest fixture (umoci unpack/repack):
 *   crash      its service exits at once (exit 3)
 *   crash-once its service fails its first start only (Restart= brings it back, serving)
 *   probe-bad  serves, but its manifest.json healthCheck (GET /healthz) answers 404
 *   good       serves, and its healthCheck (GET /version) passes
 * crash, crash-once and probe-bad must end with the previous version serving again, exit 8 and a
 * quarantined digest; good switches. Plus: an exec probe given with --health-check (runc exec), the
 * rollback of a failed unit starting the restored deployment, and a stopped unit staying stopped.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { fixtureImages } from '../helpers/fixtures.js';
import { underSystemd, atomicHost, freePort, waitHttp, waitFor, systemctl, unitState, sh } from '../helpers/system.js';
import { ok, umociVariant, setManifestHealth, relabel, quarantineEntries } from '../helpers/image-variant.js';

const CK = '/var/lib/containers/atomic';
const NAME = 'gated';
const QUARANTINE = `${CK}/.atomic/quarantine/${NAME}.json`;
const DIR = '/tmp/atomic-systest-health';

const variant = (tag: string, edit: (rootfs: string) => void): void => umociVariant(DIR, tag, edit);
const quarantined = (): string[] => quarantineEntries(CK, NAME).map((q) => q.image);

describe('system: health-gated update and rollback', function () {
  this.timeout(600_000);
  let port: number;
  const cases: string[] = [];

  before(async function () {
    assert.ok(underSystemd(), 'the system suite runs only inside the systemd harness: use `npm run test:system`');
    const fx = fixtureImages();
    fs.rmSync(DIR, { recursive: true, force: true });
    fs.mkdirSync(DIR, { recursive: true });
    ok(sh('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${fx}/oci:systest`, `oci:${DIR}/oci:systest`]), 'skopeo copy');
    variant('crash', (r) => {
      fs.writeFileSync(`${r}/usr/bin/run.sh`, '#!/bin/sh\necho "crash build: cannot start the service"\nexit 3\n', { mode: 0o755 });
    });
    variant('crash-once', (r) => {
      relabel(r, 'crash-once');
      // /var/run is the host's /run/NAME (a bind mount): the marker outlives the container
      const f = `${r}/usr/bin/run.sh`;
      const first = 'if [ ! -e /var/run/crashed-once ]; then : > /var/run/crashed-once; echo "crash-once build: the first start fails"; exit 3; fi\n';
      fs.writeFileSync(
        f,
        fs.readFileSync(f, 'utf8').replace(/^#!.*\n/, (l) => l + first),
      );
    });
    variant('probe-bad', (r) => {
      relabel(r, 'probe-bad');
      setManifestHealth(r, { type: 'http', url: 'http://127.0.0.1:$PORT/healthz', timeout: 1 });
    });
    variant('good', (r) => {
      relabel(r, 'good');
      setManifestHealth(r, { type: 'http', url: 'http://127.0.0.1:${PORT}/version' });
    });
    port = await freePort();
  });

  after(() => {
    console.log(`      health gate cases: ${cases.length}\n${cases.map((c) => `        - ${c}`).join('\n')}`);
    atomicHost(['uninstall', NAME]);
  });

  it('install the 1.0 image (no check of its own) and start it', async () => {
    ok(atomicHost(['install', '--system', '--name', NAME, '--set', `PORT=${port}`, `oci:${DIR}/oci:systest`]), 'install');
    ok(systemctl('start', NAME), 'start');
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest 1.0\n');
  });

  it('case 1: an image whose service exits at once is rolled back: 1.0 serves again, exit 8, digest quarantined', async () => {
    const t0 = Date.now();
    const r = atomicHost(['containers', 'update', '--rebase', `oci:${DIR}/oci:crash`, NAME]);
    assert.equal(r.status, 8, `exit 8 expected:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /The update of gated to \S*crash\S* failed its health check: gated\.service is /);
    assert.match(r.stderr, /unit state: gated\.service is .*(restarted|failed|auto-restart)/);
    assert.match(r.stderr, /crash build: cannot start the service/, "the unit's last journal lines are shown");
    assert.match(r.stderr, /Switching gated back to \/var\/lib\/containers\/atomic\/gated\.0/);
    assert.match(r.stderr, /Error: Update of gated rolled back: .* the previous deployment \S+gated\.0 is serving again; image [0-9a-f]{12} is quarantined for gated/);
    assert.equal(fs.readlinkSync(`${CK}/${NAME}`), `${CK}/${NAME}.0`);
    assert.equal(unitState(NAME), 'active');
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest 1.0\n');
    assert.equal(quarantined().filter((q) => q.includes('crash')).length, 1, `quarantine: ${fs.readFileSync(QUARANTINE, 'utf8')}`);
    cases.push(`service exits at once: rolled back to 1.0, exit ${r.status}, quarantined (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  });

  it('case 2: an image whose HTTP probe fails is rolled back: 1.0 serves again, exit 8, digest quarantined', async () => {
    const t0 = Date.now();
    const r = atomicHost(['containers', 'update', '--watch', '5', '--rebase', `oci:${DIR}/oci:probe-bad`, NAME]);
    assert.equal(r.status, 8, `exit 8 expected:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^Watching gated\.service for 5 s: unit stays active and GET http:\/\/127\.0\.0\.1:\d+\/healthz passes \(from manifest\.json healthCheck\)$/m);
    assert.match(r.stderr, /the readiness check did not pass within 5 s: GET http:\/\/127\.0\.0\.1:\d+\/healthz: HTTP 404/);
    assert.match(r.stderr, /probe: GET .*HTTP 404/);
    assert.equal(fs.readlinkSync(`${CK}/${NAME}`), `${CK}/${NAME}.0`);
    assert.equal(unitState(NAME), 'active');
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest 1.0\n');
    assert.equal(quarantined().filter((q) => q.includes('probe-bad')).length, 1);
    assert.equal(quarantined().length, 2);
    cases.push(`HTTP probe fails (404): rolled back to 1.0, exit ${r.status}, quarantined (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  });

  it('case 3: a healthy image switches (exit 0) after the watch window', async () => {
    const t0 = Date.now();
    const r = atomicHost(['containers', 'update', '--watch', '4', '--rebase', `oci:${DIR}/oci:good`, NAME]);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^gated\.service is healthy on \/var\/lib\/containers\/atomic\/gated\.1$/m);
    assert.equal(fs.readlinkSync(`${CK}/${NAME}`), `${CK}/${NAME}.1`);
    assert.equal(unitState(NAME), 'active');
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest good\n');
    assert.ok(fs.existsSync(`${CK}/${NAME}.1/health-check.json`));
    cases.push(`healthy image: switched, exit ${r.status} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  });

  it('an image whose service fails its first start and then serves (one restart by Restart=, before the first poll) is rolled back', async () => {
    // the gate's first poll comes a while after the start (deploy/health-gate.ts FIRST_POLL_MS): a
    // restart before it must count all the same (systemd counts them from the manual start)
    fs.rmSync(`/run/${NAME}/crashed-once`, { force: true });
    const r = atomicHost(['containers', 'update', '--watch', '4', '--rebase', `oci:${DIR}/oci:crash-once`, NAME]);
    assert.equal(r.status, 8, `exit 8 expected:\n${r.stdout}\n${r.stderr}`);
    assert.ok(fs.existsSync(`/run/${NAME}/crashed-once`), 'the new service did start (and fail) once');
    assert.match(r.stderr, /unit state: gated\.service is .*restarted [1-9]\d* time\(s\)/);
    assert.match(r.stderr, /crash-once build: the first start fails/, "the unit's last journal lines are shown");
    assert.equal(fs.readlinkSync(`${CK}/${NAME}`), `${CK}/${NAME}.1`);
    assert.equal(unitState(NAME), 'active');
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest good\n');
    assert.equal(quarantined().filter((q) => q.includes('crash-once')).length, 1);
    fs.rmSync(`/run/${NAME}/crashed-once`, { force: true });
    cases.push(`service fails its first start, then serves: rolled back to good, exit ${r.status}, quarantined`);
  });

  it('an exec probe given with --health-check runs inside the container (runc exec); failing, it rolls back', async () => {
    const bad = atomicHost(['containers', 'update', '--watch', '3', '--health-check', 'exec:test -f /tmp/www/not-there', NAME]);
    assert.equal(bad.status, 8, `${bad.stdout}\n${bad.stderr}`);
    assert.match(bad.stderr, /probe: exec \/bin\/sh -c test -f \/tmp\/www\/not-there: exit 1/);
    assert.equal(fs.readlinkSync(`${CK}/${NAME}`), `${CK}/${NAME}.1`);
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest good\n');
    const good = atomicHost(['containers', 'update', '--watch', '3', '--health-check', 'exec:test -f /tmp/www/version', NAME]);
    assert.equal(good.status, 0, `${good.stdout}\n${good.stderr}`);
    assert.match(good.stdout, /unit stays active and exec \/bin\/sh -c test -f \/tmp\/www\/version passes \(from --health-check\)/);
    assert.equal(fs.readlinkSync(`${CK}/${NAME}`), `${CK}/${NAME}.0`);
    cases.push('exec probe via --health-check: failing one rolled back (exit 8), passing one switched');
  });

  it('rollback of a failed unit starts the restored deployment; of a stopped unit leaves it stopped', async () => {
    // --watch 0: no gate, the broken image stays deployed and its unit fails
    ok(atomicHost(['containers', 'update', '--watch', '0', '--rebase', `oci:${DIR}/oci:crash`, NAME]), 'update --watch 0');
    assert.ok(await waitFor(() => unitState(NAME) === 'failed', 30_000), `unit not failed: ${unitState(NAME)}`);
    const r = atomicHost(['containers', 'rollback', '--watch', '3', NAME]);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^systemctl start gated\.service$/m);
    assert.equal(unitState(NAME), 'active');
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest good\n');
    ok(systemctl('stop', NAME), 'stop');
    const r2 = atomicHost(['containers', 'rollback', NAME]);
    assert.equal(r2.status, 0, `${r2.stdout}\n${r2.stderr}`);
    assert.doesNotMatch(r2.stdout, /systemctl start/);
    assert.equal(unitState(NAME), 'inactive');
    cases.push('rollback of a failed unit: restored deployment started and healthy; of a stopped unit: stays stopped');
  });

  it('uninstall removes the quarantine record with the container', () => {
    ok(atomicHost(['uninstall', NAME]), 'uninstall');
    assert.ok(!fs.existsSync(QUARANTINE));
    for (const f of [`/etc/systemd/system/${NAME}.service`, `${CK}/${NAME}`, `${CK}/${NAME}.0`, `${CK}/${NAME}.1`, `${CK}/.atomic/last-result/${NAME}.json`])
      assert.ok(!fs.existsSync(f), `${f} left behind`);
  });
});
