/**
 * Option records through the CLI in a scratch --sysroot (docs/options.md): install --option, the
 * host INI file, `containers config` (show, --json, change, --unset), links and cycles across
 * three containers, rollback restoring the record, uninstall removing what atomic wrote.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureImages } from '../../helpers/fixtures.js';
import { atomicSysroot, makeSysroot, okSysroot } from '../../helpers/cli.js';

describe('option records in a scratch sysroot', function () {
  this.timeout(180_000);
  let work: string;
  let S: string;
  let IMG: string;
  const a = (args: string[]) => atomicSysroot(S, args);
  const ok = (args: string[]): string => okSysroot(S, args);
  const etc = (...p: string[]) => path.join(S, 'etc', ...p);

  before(() => {
    IMG = `oci:${fixtureImages()}/oci:systest`;
    ({ work, S } = makeSysroot('atomic-options-'));
    ok(['pull', IMG]);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('a hand-written host file is read at install, --option overrides it; the drop-in and config.json follow', () => {
    fs.mkdirSync(etc('containers/atomic'), { recursive: true });
    fs.writeFileSync(etc('containers/atomic/c1.conf'), '# by hand\n[c1]\nmaxmemory = 64\ncpu=25\n');
    ok(['install', '--system', '--name', 'c1', '--option', 'cpu=50', IMG]);
    const cfg = JSON.parse(fs.readFileSync(path.join(S, 'var/lib/containers/atomic/c1.0/config.json'), 'utf8')) as {
      linux: { resources: { memory: { limit: number }; cpu: { quota: number } } };
    };
    assert.equal(cfg.linux.resources.memory.limit, 64 * 1024 * 1024);
    assert.equal(cfg.linux.resources.cpu.quota, 50000);
    assert.equal(
      fs
        .readFileSync(etc('systemd/system/c1.service.d/50-atomic-options.conf'), 'utf8')
        .split('\n')
        .filter((l) => /^(MemoryMax|CPUQuota)=/.test(l))
        .join(' '),
      'MemoryMax=67108864 CPUQuota=50%',
    );
    assert.equal(ok(['containers', 'config', 'c1']), 'MaxMemory=64\ncpu=50\n');
    const j = JSON.parse(ok(['containers', 'config', 'c1', '--json'])) as { deployed: Record<string, string>; hostFile: Record<string, string>; pending: boolean };
    assert.deepEqual(j.deployed, { MaxMemory: '64', cpu: '50' });
    assert.equal(j.pending, false, 'the host file was rewritten with the deployed record');
    // containers inspect shows the record beside the image's own values, and where the drop-in is
    const ins = JSON.parse(ok(['containers', 'inspect', '--json', 'c1'])) as { options: { deployed: Record<string, string>; dropIn: string; pending: boolean } | null };
    assert.deepEqual(ins.options?.deployed, { MaxMemory: '64', cpu: '50' });
    assert.equal(ins.options?.dropIn, etc('systemd/system/c1.service.d/50-atomic-options.conf'), 'the drop-in, below the sysroot like the unit');
    const human = ok(['containers', 'inspect', 'c1']);
    assert.ok(human.includes(`Options:\n  MaxMemory  64\n  cpu        50\n  Drop-in:       ${ins.options?.dropIn}\n`), human);
  });

  it('Interlinked across three containers: unknown names and cycles are refused, nothing changes', () => {
    ok(['install', '--system', '--name', 'c2', '--option', 'Interlinked=c1', IMG]);
    ok(['install', '--system', '--name', 'c3', '--option', 'Interlinked=c2,c1', '--option', 'InterLinkPriority=5', IMG]);
    assert.match(
      fs.readFileSync(etc('systemd/system/c3.service.d/50-atomic-options.conf'), 'utf8'),
      /^Requires=c1\.service\nAfter=c1\.service\nRequires=c2\.service\nAfter=c2\.service$/m,
    );
    const before = fs.readFileSync(etc('containers/atomic/c1.conf'), 'utf8');
    const cyc = a(['containers', 'config', 'c1', 'Interlinked=c3']);
    assert.equal(cyc.status, 2);
    assert.match(cyc.stderr, /Interlinked=c3 makes a cycle: c1 -> c3 -> c2 -> c1/);
    const unk = a(['install', '--system', '--name', 'c4', '--option', 'Interlinked=c9', IMG]);
    assert.equal(unk.status, 2);
    assert.match(unk.stderr, /no system container named 'c9' is installed/);
    assert.ok(!fs.existsSync(path.join(S, 'var/lib/containers/atomic/c4.0')), 'the refused install wrote nothing');
    assert.equal(fs.readFileSync(etc('containers/atomic/c1.conf'), 'utf8'), before);
    assert.equal(fs.readlinkSync(path.join(S, 'var/lib/containers/atomic/c1')), '/var/lib/containers/atomic/c1.0');
  });

  it('config changes deploy a new slot; rollback restores record, drop-in and host file; --unset removes a key', () => {
    ok(['containers', 'config', 'c1', 'MaxMemory=128', '--unset', 'cpu']);
    assert.equal(fs.readlinkSync(path.join(S, 'var/lib/containers/atomic/c1')), '/var/lib/containers/atomic/c1.1');
    assert.equal(ok(['containers', 'config', 'c1']), 'MaxMemory=128\n');
    assert.doesNotMatch(fs.readFileSync(etc('systemd/system/c1.service.d/50-atomic-options.conf'), 'utf8'), /CPUQuota/);
    assert.match(ok(['containers', 'config', 'c1', 'MaxMemory=128']), /unchanged/);
    ok(['containers', 'rollback', 'c1']);
    assert.equal(ok(['containers', 'config', 'c1']), 'MaxMemory=64\ncpu=50\n');
    assert.match(fs.readFileSync(etc('containers/atomic/c1.conf'), 'utf8'), /^MaxMemory=64\ncpu=50$/m);
    assert.match(fs.readFileSync(etc('systemd/system/c1.service.d/50-atomic-options.conf'), 'utf8'), /^CPUQuota=50%$/m);
  });

  it('uninstall removes the drop-in and the host file atomic wrote', () => {
    for (const n of ['c3', 'c2', 'c1']) ok(['uninstall', n]);
    for (const n of ['c1', 'c2', 'c3']) {
      assert.ok(!fs.existsSync(etc(`systemd/system/${n}.service.d`)), `${n}.service.d`);
      assert.ok(!fs.existsSync(etc(`containers/atomic/${n}.conf`)), `${n}.conf`);
    }
  });
});
