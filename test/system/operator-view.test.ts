/**
 * The operator's view under a real systemd: `install --now`, `containers inspect [--json]` (and
 * `atomic info NAME` on a container), `atomic logs NAME -n N`.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { fixtureImages } from '../helpers/fixtures.js';
import { underSystemd, atomicHost, freePort, waitHttp, waitFor, unitState, type Run } from '../helpers/system.js';

const NAME = 'opview';

function ok(r: Run, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

interface Inspect {
  schemaVersion: number;
  name: string;
  current: { slot: number; path: string; image: string; imageId: string; healthCheck: { type: string; url?: string } | null };
  rollback: { slot: number; image: string } | null;
  values: { name: string; value: string; source: string }[];
  unit: { name: string; activeState: string; enabled: string; editedByHand: boolean; present: boolean };
  tmpfiles: { editedByHand: boolean } | null;
  lastUpdate: { op: string; result: string } | null;
}

describe('system: install --now, containers inspect, logs', function () {
  this.timeout(300_000);
  let fx: string;
  let port: number;

  before(async () => {
    assert.ok(underSystemd(), 'the system suite runs only inside the systemd harness: use `npm run test:system`');
    fx = fixtureImages();
    port = await freePort();
  });
  after(() => atomicHost(['uninstall', NAME]));

  it('install --now enables and starts the unit', async () => {
    const out = ok(atomicHost(['install', '--system', '--now', '--name', NAME, '--set', `PORT=${port}`, '--health-check', `http://127.0.0.1:${port}/version`, `oci:${fx}/oci:systest`]), 'install --now');
    assert.match(out, /^systemctl enable opview\.service$/m);
    assert.match(out, /^systemctl start opview\.service$/m);
    assert.equal(unitState(NAME), 'active');
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest 1.0\n');
  });

  it('containers inspect --json: deployments, values with their source, unit state, health check; info NAME says the same', () => {
    ok(atomicHost(['containers', 'update', '--watch', '2', '--set', 'RECEIVER=Ops', NAME]), 'update');
    const j = JSON.parse(ok(atomicHost(['containers', 'inspect', '--json', NAME]), 'inspect --json')) as Inspect;
    assert.equal(j.schemaVersion, 1);
    assert.equal(j.name, NAME);
    assert.equal(j.current.slot, 1);
    assert.equal(j.current.path, '/var/lib/containers/atomic/opview.1');
    assert.match(j.current.imageId, /^[0-9a-f]{64}$/);
    assert.deepEqual(j.current.healthCheck && [j.current.healthCheck.type, j.current.healthCheck.url], ['http', `http://127.0.0.1:${port}/version`]);
    assert.equal(j.rollback?.slot, 0);
    const v = Object.fromEntries(j.values.map((x) => [x.name, [x.value, x.source]]));
    assert.deepEqual(v.PORT, [String(port), 'set']);
    assert.deepEqual(v.RECEIVER, ['Ops', 'set']);
    assert.deepEqual(v.NAME, [NAME, 'os']);
    assert.deepEqual(v.STATE_DIRECTORY, ['/var/lib', 'os']);
    assert.deepEqual([j.unit.name, j.unit.activeState, j.unit.enabled, j.unit.editedByHand], ['opview.service', 'active', 'enabled', false]);
    assert.deepEqual(j.lastUpdate && [j.lastUpdate.op, j.lastUpdate.result], ['update', 'switched']);
    const info = JSON.parse(ok(atomicHost(['info', '--json', NAME]), 'info --json')) as Inspect;
    assert.deepEqual(info, j);
    const text = ok(atomicHost(['containers', 'inspect', NAME]), 'inspect');
    assert.match(text, /^Current deployment:\n  Path: +\/var\/lib\/containers\/atomic\/opview\.1$/m);
    assert.match(text, /^  RECEIVER +Ops +\[--set\]$/m);
    assert.match(text, /^Unit: +opview\.service \(active, enabled\)$/m);
    // a unit edited by hand is reported as such
    fs.appendFileSync('/etc/systemd/system/opview.service', '# local edit\n');
    const edited = JSON.parse(ok(atomicHost(['containers', 'inspect', '--json', NAME]), 'inspect')) as Inspect;
    assert.equal(edited.unit.editedByHand, true);
    const f = '/etc/systemd/system/opview.service';
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('# local edit\n', ''));
    const r = atomicHost(['containers', 'inspect', 'not-installed']);
    assert.equal(r.status, 3, r.stderr);
  });

  it('logs -n N shows the last lines of the unit journal', async () => {
    assert.ok(await waitFor(() => /listening on 127\.0\.0\.1/.test(atomicHost(['logs', '-n', '50', NAME]).stdout), 10_000), atomicHost(['logs', NAME]).stdout);
    const out = ok(atomicHost(['logs', '-n', '3', NAME]), 'logs -n 3');
    assert.equal(out.trim().split('\n').length, 3, out);
    assert.equal(atomicHost(['logs', 'not-installed']).status, 3);
  });
});
