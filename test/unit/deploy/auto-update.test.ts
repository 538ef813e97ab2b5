/**
 * auto-update building blocks: the policy from flag and label (src/deploy/auto-update.ts), the
 * candidate scan of a checkout root, the rendered timer/service, the exit-status rule and the
 * table/JSON row shape (src/app/containers/auto-update.ts, src/commands/auto-update.ts).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  policyFromLabel,
  autoUpdateRecord,
  autoUpdatePolicy,
  carriedFlag,
  autoUpdateCandidates,
  renderAutoUpdateUnits,
  atomicCommandLine,
} from '../../../src/deploy/auto-update.js';
import { autoUpdateExitCode, registryName, updatedColumn, type AutoUpdateReport, type AutoUpdateStatus } from '../../../src/app/containers/auto-update.js';
import { autoUpdateTable } from '../../../src/commands/auto-update.js';
import { resolveStorePaths } from '../../../src/host/paths.js';
import type { DeployContext } from '../../../src/deploy/context.js';
import { code } from '../../helpers/error-code.js';

const row = (name: string, status: AutoUpdateStatus): AutoUpdateReport => ({
  name,
  unit: `${name}.service`,
  image: `registry.example/${name}:1`,
  policy: 'registry',
  currentDigest: `sha256:${'a'.repeat(64)}`,
  remoteDigest: `sha256:${'b'.repeat(64)}`,
  status,
  error: null,
});

describe('deploy/auto-update: policy', () => {
  it('label values: registry and image (podman alias) are registry, local is local, others are unknown', () => {
    assert.equal(policyFromLabel('registry'), 'registry');
    assert.equal(policyFromLabel(' Image '), 'registry');
    assert.equal(policyFromLabel('local'), 'local');
    assert.equal(policyFromLabel('disabled'), 'disabled');
    assert.equal(policyFromLabel(''), 'disabled');
    assert.equal(policyFromLabel('sometimes'), 'unknown');
    assert.equal(policyFromLabel(undefined), null);
  });

  it('the flag wins over the label; an unknown label warns and gives no policy', () => {
    const warnings: string[] = [];
    const w = (m: string) => warnings.push(m);
    assert.deepEqual(autoUpdateRecord('registry', {}, w), { policy: 'registry', source: 'flag' });
    assert.deepEqual(autoUpdateRecord('disabled', { 'io.containers.autoupdate': 'registry' }, w), { policy: 'disabled', source: 'flag' });
    assert.deepEqual(autoUpdateRecord(null, { 'io.containers.autoupdate': 'registry' }, w), { policy: 'registry', source: 'label' });
    assert.equal(autoUpdateRecord(undefined, null, w), null);
    assert.equal(warnings.length, 0);
    assert.equal(autoUpdateRecord(null, { 'io.containers.autoupdate': 'weekly' }, w), null);
    assert.match(warnings[0] ?? '', /io\.containers\.autoupdate=weekly is not a policy/);
  });

  it('policy in force and the flag an update carries', () => {
    assert.equal(autoUpdatePolicy({ 'auto-update': { policy: 'registry', source: 'label' } }), 'registry');
    assert.equal(autoUpdatePolicy({ 'auto-update': { policy: 'disabled', source: 'flag' } }), null);
    assert.equal(autoUpdatePolicy({}), null);
    assert.equal(carriedFlag({ 'auto-update': { policy: 'registry', source: 'label' } }), null, 'a label is read again from the new image');
    assert.equal(carriedFlag({ 'auto-update': { policy: 'disabled', source: 'flag' } }), 'disabled');
  });
});

describe('deploy/auto-update: candidates', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-au-'));
    const mk = (name: string, slot: number, au: unknown, link = true) => {
      fs.mkdirSync(path.join(dir, `${name}.${slot}`));
      fs.writeFileSync(path.join(dir, `${name}.${slot}`, 'info'), JSON.stringify({ image: `r.example/${name}:1`, revision: 'a'.repeat(64), ...(au ? { 'auto-update': au } : {}) }));
      if (link) fs.symlinkSync(path.join(dir, `${name}.${slot}`), path.join(dir, name));
    };
    mk('zeta', 0, { policy: 'registry', source: 'flag' });
    mk('alpha', 1, { policy: 'local', source: 'label' });
    mk('off', 0, { policy: 'disabled', source: 'flag' });
    mk('plain', 0, null);
    mk('orphan', 0, { policy: 'registry', source: 'flag' }, false); // a slot without its link is no container
    fs.mkdirSync(path.join(dir, '.atomic'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('only live deployments with a registry or local policy, in name order', () => {
    const paths = { ...resolveStorePaths({ euid: 0, env: {} }), checkoutRoot: dir };
    const ctx = { paths, out: { line() {}, warn() {}, isTTY: false } } as unknown as DeployContext;
    assert.deepEqual(
      autoUpdateCandidates(ctx).map((c) => [c.name, c.policy]),
      [
        ['alpha', 'local'],
        ['zeta', 'registry'],
      ],
    );
  });
});

describe('deploy/auto-update: units', () => {
  it('a oneshot service running this atomic, a daily randomized persistent timer', () => {
    const u = renderAutoUpdateUnits({ atomic: '/usr/bin/atomic', user: false });
    const svc = u['atomic-auto-update.service']!;
    assert.match(svc, /^Type=oneshot$/m);
    assert.match(svc, /^ExecStart=\/usr\/bin\/atomic auto-update$/m);
    assert.match(svc, /^After=network-online\.target$/m);
    const t = u['atomic-auto-update.timer']!;
    for (const l of ['OnCalendar=daily', 'RandomizedDelaySec=900', 'Persistent=true', 'WantedBy=timers.target']) assert.match(t, new RegExp(`^${l}$`, 'm'));
    assert.doesNotMatch(renderAutoUpdateUnits({ atomic: 'atomic', user: true })['atomic-auto-update.service']!, /network-online/, 'no system target in a user manager');
    assert.equal(atomicCommandLine('/opt/atomic/bin/run.js'), `${process.execPath} /opt/atomic/bin/run.js`);
    assert.equal(atomicCommandLine('/usr/bin/atomic'), '/usr/bin/atomic');
  });
});

describe('app/auto-update: exit status, table, names', () => {
  it('0 unless something failed (1) or was rolled back (8); failed wins', () => {
    assert.equal(autoUpdateExitCode([]), 0);
    assert.equal(autoUpdateExitCode([row('a', 'checked'), row('b', 'updated'), row('c', 'quarantined'), row('d', 'pending')]), 0);
    assert.equal(autoUpdateExitCode([row('a', 'updated'), row('b', 'rolled-back')]), 8);
    assert.equal(autoUpdateExitCode([row('a', 'rolled-back'), row('b', 'failed')]), 1);
  });

  it("podman's table: UNIT CONTAINER IMAGE POLICY UPDATED, aligned", () => {
    const lines = autoUpdateTable([row('web', 'updated'), row('database', 'rolled-back'), row('x', 'checked')]);
    const fmt = (c: string[]) => c[0]!.padEnd(18) + c[1]!.padEnd(11) + c[2]!.padEnd(29) + c[3]!.padEnd(10) + c[4];
    assert.deepEqual(lines, [
      fmt(['UNIT', 'CONTAINER', 'IMAGE', 'POLICY', 'UPDATED']),
      fmt(['web.service', 'web', 'registry.example/web:1', 'registry', 'true']),
      fmt(['database.service', 'database', 'registry.example/database:1', 'registry', 'rolled back']),
      fmt(['x.service', 'x', 'registry.example/x:1', 'registry', 'false']),
    ]);
    assert.equal(updatedColumn('checked'), 'false');
    assert.equal(updatedColumn('quarantined'), 'quarantined');
  });

  it('a registry policy needs a tag on a registry', () => {
    assert.equal(registryName('docker://registry.example/app'), 'registry.example/app:latest');
    assert.equal(registryName('127.0.0.1:5000/app:stable'), '127.0.0.1:5000/app:stable');
    assert.equal(
      code(() => registryName('app:1')),
      'USAGE',
    );
    assert.equal(
      code(() => registryName(`registry.example/app@sha256:${'c'.repeat(64)}`)),
      'USAGE',
    );
  });
});
