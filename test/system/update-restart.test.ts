/**
 * `containers update` of a running container under a real systemd with real runc, when the
 * update restarts the unit in one `systemctl restart` after the switch (deploy/activate-slot.ts,
 * restartInPlace), and recovery from a SIGKILL at the points around it (ATOMIC_FAULT): the
 * container must end up running from the deployment NAME points at (the runtime's bundle),
 * serving the new content, with no journal left.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixtureImages } from '../helpers/fixtures.js';
import { underSystemd, atomicHost, freePort, waitHttp, systemctl, unitState, sh, waitFor, type Run } from '../helpers/system.js';

const NAME = 'uprestart';
const CK = '/var/lib/containers/atomic';
const JOURNAL = `${CK}/.atomic/journal/${NAME}.json`;

function ok(r: Run, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The bundle runc says the running container NAME was started from. */
function bundle(): string | null {
  const r = sh('runc', ['state', NAME]);
  return r.status === 0 ? (JSON.parse(r.stdout) as { bundle: string }).bundle : null;
}

const mainPid = (): string => systemctl('show', '-p', 'MainPID', '--value', NAME).stdout.trim();
const live = (): string => fs.readlinkSync(`${CK}/${NAME}`);

describe('system: update restarts a running unit in one call; a kill around it recovers onto the new deployment', function () {
  this.timeout(300_000);
  let port: number;

  before(async () => {
    assert.ok(underSystemd(), 'the system suite runs only inside the systemd harness: use `npm run test:system`');
    port = await freePort();
    ok(atomicHost(['install', '--system', '--name', NAME, '--set', `PORT=${port}`, `oci:${fixtureImages()}/oci:systest`]), 'install');
    ok(systemctl('start', NAME), 'start');
    assert.match((await waitHttp(port, /Hello/)) ?? '', /Hello World/);
  });
  after(() => atomicHost(['uninstall', NAME]));

  it('update --set of a running unit: `systemctl restart` after the switch (no stop before it), new deployment serving', async () => {
    // a systemctl that logs its arguments: which calls the update really made
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uprestart-'));
    const log = path.join(dir, 'calls');
    const wrapper = path.join(dir, 'systemctl');
    fs.writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec systemctl "$@"\n`, { mode: 0o755 });
    const out = ok(atomicHost(['containers', 'update', '--watch', '0', '--set', 'RECEIVER=One', NAME], { ATOMIC_SYSTEMCTL: wrapper }), 'update');
    const calls = fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => / uprestart\.service$/.test(l) && !/^(show|is-|status)/.test(l));
    fs.rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(
      calls.filter((l) => /^(stop|start|restart) /.test(l)),
      [`restart ${NAME}.service`],
      `one restart job, no stop or start: ${calls.join(', ')}`,
    );
    // echoed as atomic's lines (stop, then start), though the host ran one restart job
    assert.match(out, new RegExp(`^systemctl stop ${NAME}\\.service\\n(.*\\n)*systemctl start ${NAME}\\.service$`, 'm'));
    assert.doesNotMatch(out, /^systemctl restart /m);
    assert.equal(live(), `${CK}/${NAME}.1`);
    assert.equal(await waitHttp(port, /One/), 'Hello One from systest 1.0\n');
    assert.equal(bundle(), `${CK}/${NAME}.1`);
    assert.equal(unitState(NAME), 'active');
  });

  for (const point of ['activate:begin', 'activate:host-files', 'activate:switched']) {
    it(`killed at ${point} (the old container still runs): the next command restarts it on the new deployment`, async () => {
      const before = live();
      const want = `K${point.split(':')[1].replace('-', '')}`;
      const r = atomicHost(['containers', 'update', '--watch', '0', '--set', `RECEIVER=${want}`, NAME], { ATOMIC_FAULT: point });
      assert.equal(r.status, 137, `not killed at ${point}: ${r.status}\n${r.stdout}\n${r.stderr}`);
      assert.ok(fs.existsSync(JOURNAL), 'the journal is left');
      assert.equal(bundle(), before, 'the old container still runs');
      assert.doesNotMatch((await waitHttp(port, /Hello/)) ?? '', new RegExp(want), 'still the old content');
      // any command on the host replays the journal
      ok(atomicHost(['containers', 'list', '-a']), 'containers list');
      assert.ok(!fs.existsSync(JOURNAL), 'the journal is gone');
      assert.notEqual(live(), before, 'NAME points at the new deployment');
      assert.equal(await waitHttp(port, new RegExp(want)), `Hello ${want} from systest 1.0\n`);
      assert.equal(bundle(), live(), 'the running container is the new deployment');
      assert.equal(unitState(NAME), 'active');
    });
  }

  it('killed after the restart (activate:done): recovery leaves the running new container alone', async () => {
    const r = atomicHost(['containers', 'update', '--watch', '0', '--set', 'RECEIVER=Done', NAME], { ATOMIC_FAULT: 'activate:done' });
    assert.equal(r.status, 137, `${r.status}\n${r.stdout}\n${r.stderr}`);
    assert.equal(await waitHttp(port, /Done/), 'Hello Done from systest 1.0\n');
    assert.ok(await waitFor(() => unitState(NAME) === 'active' && /^[1-9]/.test(mainPid()), 10_000));
    const pid = mainPid();
    ok(atomicHost(['containers', 'list', '-a']), 'containers list');
    assert.ok(!fs.existsSync(JOURNAL), 'the journal is gone');
    assert.equal(mainPid(), pid, 'not restarted');
    assert.equal(bundle(), live());
  });
});
