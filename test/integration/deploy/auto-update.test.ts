/**
 * `atomic auto-update` end to end through the CLI, in a scratch --sysroot (no running systemd:
 * the update switches without a health gate, units are enabled with `systemctl --root`), against
 * the real CNCF registry of ../shared/fixtures: candidate selection (--auto-update flag, image
 * label, neither), digest comparison with manifest requests only, --dry-run, quarantine skip,
 * the JSON shape and exit codes, and the atomic-auto-update.{service,timer} lifecycle.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureImages } from '../../helpers/fixtures.js';
import { atomicSysroot, makeSysroot } from '../../helpers/cli.js';
import { CK } from '../../helpers/deploy-state.js';
import { startRegistry, registryRequests, type TestRegistry } from '../../helpers/registry-server.js';
import { spawnSync } from 'node:child_process';

interface Row {
  name: string;
  unit: string;
  image: string;
  policy: string;
  currentDigest: string;
  remoteDigest: string | null;
  status: string;
  error: string | null;
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

describe('atomic auto-update (sysroot, real registry)', function () {
  this.timeout(300_000);
  let reg: TestRegistry;
  let work: string;
  let S: string;
  let oci: string;
  const a = (args: string[]) => atomicSysroot(S, args);
  const ck = (...p: string[]) => path.join(S, CK, ...p);
  const unitDir = () => path.join(S, 'etc/systemd/system');
  const timer = () => path.join(unitDir(), 'atomic-auto-update.timer');
  const service = () => path.join(unitDir(), 'atomic-auto-update.service');
  const wants = () => path.join(unitDir(), 'timers.target.wants', 'atomic-auto-update.timer');
  const info = (n: string) =>
    JSON.parse(fs.readFileSync(path.join(ck(path.basename(fs.readlinkSync(ck(n)))), 'info'), 'utf8')) as { revision: string; 'auto-update'?: { policy: string; source: string } };
  const push = (tag: string, repo: string) => sh('skopeo', ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${oci}:${tag}`, `docker://${reg.host}/${repo}`]);
  const run = (args: string[] = []): { status: number; rows: Row[]; stderr: string } => {
    const r = a(['auto-update', '--json', ...args]);
    let rows: Row[];
    try {
      rows = JSON.parse(r.stdout) as Row[];
    } catch {
      assert.fail(`auto-update --json printed no JSON (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
    }
    return { status: r.status, rows, stderr: r.stderr };
  };
  const row = (rows: Row[], n: string) => rows.find((r) => r.name === n) ?? assert.fail(`no row for ${n}: ${JSON.stringify(rows)}`);

  before(async () => {
    const fx = fixtureImages();
    ({ work, S } = makeSysroot('atomic-autoupdate-'));
    oci = path.join(work, 'oci');
    for (const t of ['systest', 'systest-update']) sh('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${fx}/oci:${t}`, `oci:${oci}:${t}`]);
    sh('umoci', ['config', '--image', `${oci}:systest`, '--tag', 'labelled', '--config.label', 'io.containers.autoupdate=registry']);
    reg = await startRegistry({ push: false });
    push('systest', 'auto/app:stable');
    push('labelled', 'auto/lab:stable');
  });
  after(() => {
    reg?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('with no candidate it says so and exits 0, writing no units', () => {
    const r = a(['auto-update']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /No container has an auto-update policy/);
    assert.ok(!fs.existsSync(timer()));
  });

  it('install --auto-update records the policy, writes both units and enables the timer (offline)', () => {
    const r = a(['install', '--system', '--auto-update', '--name', 'app', `docker://${reg.host}/auto/app:stable`]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.deepEqual(info('app')['auto-update'], { policy: 'registry', source: 'flag' });
    assert.match(r.stdout, /systemctl --root=\S+ enable atomic-auto-update\.timer/);
    assert.ok(fs.lstatSync(wants()).isSymbolicLink(), 'timers.target.wants link');
    const t = fs.readFileSync(timer(), 'utf8');
    assert.match(t, /^OnCalendar=daily$/m);
    assert.match(t, /^RandomizedDelaySec=900$/m);
    assert.match(t, /^Persistent=true$/m);
    assert.match(fs.readFileSync(service(), 'utf8'), /^Type=oneshot\nExecStart=\S.* auto-update$/m);
    const insp = JSON.parse(a(['containers', 'inspect', '--json', 'app']).stdout) as { autoUpdate: unknown };
    assert.deepEqual(insp.autoUpdate, { policy: 'registry', source: 'flag' });
    assert.match(a(['containers', 'inspect', 'app']).stdout, /^Auto-update: +registry \(from --auto-update\)$/m);
  });

  it('the image label makes a candidate; a container with neither is not one', () => {
    assert.equal(a(['install', '--system', '--name', 'lab', `docker://${reg.host}/auto/lab:stable`]).status, 0);
    assert.deepEqual(info('lab')['auto-update'], { policy: 'registry', source: 'label' });
    assert.equal(a(['install', '--system', '--name', 'plain', `oci:${oci}:systest`]).status, 0);
    assert.equal(info('plain')['auto-update'], undefined);
  });

  it('nothing new: both checked, exit 0, manifest requests only (no blob)', () => {
    const before = registryRequests(reg).length;
    const r = run();
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      r.rows.map((x) => x.name),
      ['app', 'lab'],
    );
    const app = row(r.rows, 'app');
    assert.deepEqual(Object.keys(app).sort(), ['currentDigest', 'error', 'image', 'name', 'policy', 'remoteDigest', 'status', 'unit']);
    assert.equal(app.status, 'checked');
    assert.equal(app.unit, 'app.service');
    assert.equal(app.policy, 'registry');
    assert.equal(app.error, null);
    assert.match(app.currentDigest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(app.remoteDigest, app.currentDigest);
    const reqs = registryRequests(reg).slice(before);
    assert.ok(
      reqs.some((q) => /^HEAD \/v2\/auto\/app\/manifests\/stable$/.test(q)),
      reqs.join('\n'),
    );
    assert.deepEqual(
      reqs.filter((q) => /\/blobs\//.test(q)),
      [],
      'no blob request',
    );
  });

  it('a new digest: --dry-run reports it pending and changes nothing', () => {
    push('systest-update', 'auto/app:stable');
    const before = registryRequests(reg).length;
    const r = run(['--dry-run']);
    assert.equal(r.status, 0, r.stderr);
    const app = row(r.rows, 'app');
    assert.equal(app.status, 'pending');
    assert.notEqual(app.remoteDigest, app.currentDigest);
    assert.equal(row(r.rows, 'lab').status, 'checked');
    assert.equal(fs.readlinkSync(ck('app')), `/${CK}/app.0`);
    assert.ok(!fs.existsSync(ck('app.1')));
    assert.deepEqual(
      registryRequests(reg)
        .slice(before)
        .filter((q) => /\/blobs\//.test(q)),
      [],
    );
    const human = a(['auto-update', '--dry-run']);
    assert.equal(human.status, 0);
    assert.match(human.stdout, /^UNIT +CONTAINER +IMAGE +POLICY +UPDATED\n/);
    assert.match(human.stdout, /^app\.service +app +127\.0\.0\.1:\d+\/auto\/app:stable +registry +pending$/m);
    assert.match(human.stdout, /^lab\.service +lab +\S+ +registry +false$/m);
  });

  it('a quarantined new digest is skipped (exit 0, no pull); released, it is pulled and deployed', () => {
    const next = run(['--dry-run'])
      .rows.find((x) => x.name === 'app')!
      .remoteDigest!.replace(/^sha256:/, '');
    const qf = ck('.atomic', 'quarantine', 'app.json');
    fs.mkdirSync(path.dirname(qf), { recursive: true });
    fs.writeFileSync(qf, JSON.stringify({ name: 'app', quarantined: [{ digest: next, image: 'x', time: '2026-01-01T00:00:00Z', reason: 'test' }] }));
    const before = registryRequests(reg).length;
    const q = run();
    assert.equal(q.status, 0, q.stderr);
    assert.equal(row(q.rows, 'app').status, 'quarantined');
    assert.match(row(q.rows, 'app').error ?? '', /is quarantined for app/);
    assert.deepEqual(
      registryRequests(reg)
        .slice(before)
        .filter((x) => /\/blobs\//.test(x)),
      [],
      'no pull of a quarantined digest',
    );
    assert.equal(fs.readlinkSync(ck('app')), `/${CK}/app.0`);
    fs.rmSync(qf);
    const u = run();
    assert.equal(u.status, 0, u.stderr);
    const app = row(u.rows, 'app');
    assert.equal(app.status, 'updated');
    assert.equal(app.remoteDigest, `sha256:${next}`);
    assert.equal(fs.readlinkSync(ck('app')), `/${CK}/app.1`);
    assert.equal(info('app').revision, next);
    assert.deepEqual(info('app')['auto-update'], { policy: 'registry', source: 'flag' }, 'the flag survives the update');
    assert.equal(row(u.rows, 'lab').status, 'checked');
    const again = run();
    assert.equal(row(again.rows, 'app').status, 'checked');
  });

  it('a quarantined digest is tried again by a `containers update` by hand, which lifts the quarantine', () => {
    push('systest', 'auto/app:stable'); // the tag moves back to the first image: a digest other than the deployed one
    const prev = row(run(['--dry-run']).rows, 'app').remoteDigest!.replace(/^sha256:/, '');
    const qf = ck('.atomic', 'quarantine', 'app.json');
    fs.writeFileSync(qf, JSON.stringify({ name: 'app', quarantined: [{ digest: prev, image: 'x', time: '2026-01-01T00:00:00Z', reason: 'test' }] }));
    assert.equal(row(run().rows, 'app').status, 'quarantined');
    assert.equal(a(['pull', `docker://${reg.host}/auto/app:stable`]).status, 0);
    const r = a(['containers', 'update', 'app']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /is no longer quarantined for app/);
    assert.ok(!fs.existsSync(qf));
    assert.equal(info('app').revision, prev);
    assert.equal(row(run().rows, 'app').status, 'checked');
  });

  it('the local policy compares with the image of the same name in the store (no registry)', () => {
    sh('umoci', ['config', '--image', `${oci}:systest`, '--tag', 'loc', '--config.label', 'io.containers.autoupdate=local']);
    assert.equal(a(['install', '--system', '--name', 'loc', `oci:${oci}:loc`]).status, 0);
    assert.deepEqual(info('loc')['auto-update'], { policy: 'local', source: 'label' });
    const before = registryRequests(reg).length;
    const c = run();
    assert.equal(row(c.rows, 'loc').status, 'checked');
    assert.equal(row(c.rows, 'loc').policy, 'local');
    // a newer image under the same tag, pulled by someone else
    sh('umoci', ['config', '--image', `${oci}:systest-update`, '--tag', 'loc', '--config.label', 'io.containers.autoupdate=local']);
    assert.equal(a(['pull', `oci:${oci}:loc`]).status, 0);
    const u = run();
    assert.equal(u.status, 0, u.stderr);
    assert.equal(row(u.rows, 'loc').status, 'updated');
    assert.equal(`sha256:${info('loc').revision}`, row(u.rows, 'loc').remoteDigest);
    assert.ok(
      !registryRequests(reg)
        .slice(before)
        .some((q) => /\/loc/.test(q)),
      'local never asks a registry',
    );
    assert.equal(a(['uninstall', 'loc']).status, 0);
  });

  it('a container whose image names no registry fails its check: exit 1, the others still run', () => {
    const r = a(['containers', 'update', '--auto-update', 'plain']);
    assert.equal(r.status, 0, r.stderr);
    const u = run();
    assert.equal(u.status, 1, u.stderr);
    assert.equal(row(u.rows, 'plain').status, 'failed');
    assert.match(row(u.rows, 'plain').error ?? '', /names no registry/);
    assert.equal(row(u.rows, 'app').status, 'checked');
    assert.equal(a(['containers', 'update', '--no-auto-update', 'plain']).status, 0);
    assert.deepEqual(info('plain')['auto-update'], { policy: 'disabled', source: 'flag' });
    assert.deepEqual(
      run().rows.map((x) => x.name),
      ['app', 'lab'],
    );
  });

  it('the units stay while a candidate is left; uninstall of the last one disables and removes them', () => {
    assert.equal(a(['uninstall', 'app']).status, 0);
    assert.ok(fs.existsSync(timer()), 'lab still has a policy');
    const r = a(['uninstall', 'lab']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /systemctl --root=\S+ disable atomic-auto-update\.timer/);
    for (const f of [timer(), service(), wants()]) assert.ok(!fs.existsSync(f), `${f} left behind`);
  });

  it('a hand-edited timer is never overwritten nor removed', () => {
    assert.equal(a(['containers', 'update', '--auto-update', 'plain']).status, 0);
    assert.ok(fs.existsSync(timer()), '--auto-update on an installed container brings the units');
    fs.writeFileSync(timer(), fs.readFileSync(timer(), 'utf8').replace('OnCalendar=daily', 'OnCalendar=hourly'));
    const r = a(['uninstall', 'plain']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /Will not delete \S+atomic-auto-update\.timer: it was not written by atomic/);
    assert.match(fs.readFileSync(timer(), 'utf8'), /OnCalendar=hourly/);
    assert.ok(!fs.existsSync(service()), 'the untouched service went');
  });
});
