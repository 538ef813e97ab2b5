/**
 * `atomic auto-update` under a real systemd with real runc, against the real CNCF registry of
 * ../shared/fixtures, with images this test builds from the systest fixture (umoci) and pushes to
 * one tag, auto/web:stable, one after the other:
 *   good       serves "from systest good"; its manifest.json healthCheck (GET /version) passes
 *   crash      its service exits at once (exit 3)
 *   probe-bad  serves, but its healthCheck (GET /healthz) answers 404
 * Must show (issue 14): a new digest is rolled out; a bad one is rolled back (non-zero exit,
 * quarantined, the previous version serving); the next run does not try it again (no pull); with
 * nothing new the registry log has no blob request. And the shipped timer/service: enabled by the
 * first auto-update install, the service runs `atomic auto-update` as a oneshot.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { fixtureImages } from '../helpers/fixtures.js';
import { underSystemd, atomicHost, freePort, waitHttp, systemctl, unitState, sh } from '../helpers/system.js';
import { ok, umociVariant, setManifestHealth, relabel, quarantineEntries } from '../helpers/image-variant.js';
import { startRegistry, registryRequests, type TestRegistry } from '../helpers/registry-server.js';

const CK = '/var/lib/containers/atomic';
const NAME = 'autoweb';
const DIR = '/var/tmp/atomic-systest-autoupdate';

interface Row {
  name: string;
  image: string;
  currentDigest: string;
  remoteDigest: string | null;
  status: string;
  error: string | null;
}

const variant = (tag: string, edit: (rootfs: string) => void): void => umociVariant(DIR, tag, edit);
const quarantined = (): string[] => quarantineEntries(CK, NAME).map((q) => q.digest);

const liveRevision = (): string => {
  const slot = fs.readlinkSync(`${CK}/${NAME}`);
  return (JSON.parse(fs.readFileSync(`${slot}/info`, 'utf8')) as { revision: string }).revision;
};

describe('system: atomic auto-update against the local registry', function () {
  this.timeout(600_000);
  let reg: TestRegistry;
  let port: number;
  const cases: string[] = [];
  const image = () => `${reg.host}/auto/web:stable`;
  const push = (tag: string) => ok(sh('skopeo', ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${DIR}/oci:${tag}`, `docker://${image()}`]), `push ${tag}`);
  /** Run auto-update --json; returns the exit status, the row of NAME and the registry requests it made. */
  const autoUpdate = (args: string[] = []): { status: number; row: Row; requests: string[]; stderr: string } => {
    const before = registryRequests(reg).length;
    const r = atomicHost(['auto-update', '--json', ...args]);
    let rows: Row[];
    try {
      rows = JSON.parse(r.stdout) as Row[];
    } catch {
      assert.fail(`auto-update --json printed no JSON (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
    }
    const row = rows.find((x) => x.name === NAME) ?? assert.fail(`no row for ${NAME}: ${r.stdout}`);
    return { status: r.status, row, requests: registryRequests(reg).slice(before), stderr: r.stderr };
  };
  const blobs = (reqs: string[]) => reqs.filter((q) => /\/blobs\//.test(q));

  before(async function () {
    assert.ok(underSystemd(), 'the system suite runs only inside the systemd harness: use `npm run test:system`');
    const fx = fixtureImages();
    fs.rmSync(DIR, { recursive: true, force: true });
    fs.mkdirSync(DIR, { recursive: true });
    ok(sh('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${fx}/oci:systest`, `oci:${DIR}/oci:systest`]), 'skopeo copy');
    variant('good', (r) => {
      relabel(r, 'good');
      setManifestHealth(r, { type: 'http', url: 'http://127.0.0.1:${PORT}/version' });
    });
    variant('crash', (r) => {
      fs.writeFileSync(`${r}/usr/bin/run.sh`, '#!/bin/sh\necho "crash build: cannot start the service"\nexit 3\n', { mode: 0o755 });
    });
    variant('probe-bad', (r) => {
      relabel(r, 'probe-bad');
      setManifestHealth(r, { type: 'http', url: 'http://127.0.0.1:$PORT/healthz', timeout: 1 });
    });
    reg = await startRegistry({ push: false });
    push('systest');
    port = await freePort();
  });

  after(() => {
    console.log(`      auto-update cases: ${cases.length}\n${cases.map((c) => `        - ${c}`).join('\n')}`);
    atomicHost(['uninstall', NAME]);
    reg?.stop();
    fs.rmSync(DIR, { recursive: true, force: true });
  });

  it('install --auto-update from the registry enables atomic-auto-update.timer; the 1.0 service runs', async () => {
    ok(atomicHost(['install', '--system', '--auto-update', '--now', '--name', NAME, '--set', `PORT=${port}`, `docker://${image()}`]), 'install');
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest 1.0\n');
    assert.equal(systemctl('is-enabled', 'atomic-auto-update.timer').stdout.trim(), 'enabled');
    assert.equal(systemctl('is-active', 'atomic-auto-update.timer').stdout.trim(), 'active');
    assert.match(systemctl('cat', 'atomic-auto-update.timer').stdout, /RandomizedDelaySec=900/);
    cases.push('first auto-update install: atomic-auto-update.timer enabled and active');
  });

  it('(d) nothing new: checked, exit 0, the registry saw manifest requests only, no blob request', () => {
    const r = autoUpdate();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.row.status, 'checked');
    assert.equal(r.row.remoteDigest, r.row.currentDigest);
    assert.ok(
      r.requests.some((q) => /\/manifests\/stable$/.test(q)),
      `no manifest request: ${r.requests.join('\n')}`,
    );
    assert.deepEqual(blobs(r.requests), [], 'no blob request');
    assert.deepEqual(
      r.requests.filter((q) => !/^(GET|HEAD) \/v2\/(auto\/web\/manifests\/\S+)?$/.test(q)),
      [],
      'only /v2/ and manifest requests',
    );
    cases.push(`nothing new: checked, exit 0, ${r.requests.length} requests (${r.requests.map((q) => q.split(' ')[0]).join(', ')}), 0 blob requests`);
  });

  it('(a) a new healthy digest is pulled and rolled out: the service answers from the new version', async () => {
    push('good');
    const r = autoUpdate(['--watch', '4']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.row.status, 'updated', JSON.stringify(r.row));
    assert.ok(blobs(r.requests).length > 0, 'the new image was pulled');
    assert.equal(`sha256:${liveRevision()}`, r.row.remoteDigest);
    assert.equal(unitState(NAME), 'active');
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest good\n');
    cases.push(`new healthy digest: updated, exit ${r.status}, serving "good"`);
  });

  for (const [tag, why] of [
    ['crash', 'its service exits at once'],
    ['probe-bad', 'its HTTP probe fails'],
  ] as const) {
    it(`(b) a bad digest (${why}) is rolled back: exit 8, quarantined, the previous version serving`, async () => {
      const before = liveRevision();
      push(tag);
      const r = autoUpdate(['--watch', '4']);
      assert.equal(r.status, 8, `exit 8 expected:\n${r.stderr}`);
      assert.equal(r.row.status, 'rolled-back', JSON.stringify(r.row));
      assert.match(r.row.error ?? '', /rolled back: .* failed its health check/);
      const bad = r.row.remoteDigest!.replace(/^sha256:/, '');
      assert.ok(quarantined().includes(bad), `not quarantined: ${quarantined().join(', ')}`);
      assert.equal(liveRevision(), before);
      assert.equal(unitState(NAME), 'active');
      assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest good\n');
      cases.push(`bad digest (${why}): rolled-back, exit ${r.status}, quarantined, "good" serving again`);
    });

    it(`(c) the next run does not try the quarantined ${tag} digest again (no pull, no restart)`, async () => {
      const r = autoUpdate(['--watch', '4']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.row.status, 'quarantined', JSON.stringify(r.row));
      assert.deepEqual(blobs(r.requests), [], 'no pull of a quarantined digest');
      assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest good\n');
      cases.push(`next run after ${tag}: quarantined (skipped), exit ${r.status}, 0 blob requests`);
    });
  }

  it('the shipped service runs `atomic auto-update` as a oneshot and succeeds (the quarantined digest skipped)', async () => {
    const r = systemctl('start', 'atomic-auto-update.service');
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}\n${sh('journalctl', ['-u', 'atomic-auto-update.service', '--no-pager', '-n', '30']).stdout}`);
    const log = sh('journalctl', ['-u', 'atomic-auto-update.service', '--no-pager', '-o', 'cat']).stdout;
    assert.match(log, /UNIT +CONTAINER +IMAGE +POLICY +UPDATED/);
    assert.match(log, new RegExp(`${NAME}\\.service +${NAME} +\\S+ +registry +quarantined`));
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest good\n');
    cases.push('systemctl start atomic-auto-update.service: oneshot ran atomic auto-update, exit 0');
  });

  it('uninstall of the last auto-update container disables and removes the timer', () => {
    ok(atomicHost(['uninstall', NAME]), 'uninstall');
    assert.notEqual(systemctl('is-enabled', 'atomic-auto-update.timer').stdout.trim(), 'enabled');
    assert.ok(!fs.existsSync('/etc/systemd/system/atomic-auto-update.timer'));
    assert.ok(!fs.existsSync('/etc/systemd/system/atomic-auto-update.service'));
    cases.push('uninstall of the last auto-update container: timer disabled, units removed');
  });
});
