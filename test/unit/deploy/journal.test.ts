/**
 * The deployment journal as a state machine (begin → host → switched → done), its on-disk format,
 * the recovery plan, and recovery carried out against a recording fake HostPort: no systemd, no
 * runtime, no mounts — only files in a temp directory.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeployJournal, planRecovery, readJournal, writeJournal, type JournalEntry } from '../../../src/deploy/journal.js';
import { recoverContainer } from '../../../src/deploy/container-ops.js';
import { containerPaths, currentSlot, type ContainerPaths } from '../../../src/deploy/layout.js';
import type { DeployContext } from '../../../src/deploy/context.js';
import type { HostPort, UnitState } from '../../../src/host/host-port.js';
import type { StorePaths } from '../../../src/host/paths.js';
import { codeOf } from '../../helpers/error-code.js';

/** A host that records what it is asked to do. */
class FakeHost implements HostPort {
  calls: string[] = [];
  states = new Map<string, UnitState>();
  constructor(readonly offline = false) {}
  state(unit: string): UnitState {
    return this.states.get(unit) ?? 'inactive';
  }
  isActive(unit: string): boolean {
    return this.state(unit) === 'active';
  }
  daemonReload(): void {
    this.calls.push('daemon-reload');
  }
  enable(unit: string): void {
    this.calls.push(`enable ${unit}`);
  }
  disableNow(unit: string): void {
    this.calls.push(`disable --now ${unit}`);
  }
  start(unit: string): void {
    this.calls.push(`start ${unit}`);
    this.states.set(unit, 'active');
  }
  stop(unit: string): void {
    this.calls.push(`stop ${unit}`);
    this.states.set(unit, 'inactive');
  }
  resetFailed(unit: string): void {
    this.calls.push(`reset-failed ${unit}`);
  }
  tmpfilesCreate(file: string): void {
    this.calls.push(`tmpfiles --create ${path.basename(file)}`);
  }
  tmpfilesRemove(file: string): void {
    this.calls.push(`tmpfiles --remove ${path.basename(file)}`);
  }
  reapContainer(runtime: string, name: string): boolean {
    this.calls.push(`reap ${name}`);
    return false;
  }
  bindMountReadOnly(): string | null {
    throw new Error('not used by deployments');
  }
  unmount(): string | null {
    throw new Error('not used by deployments');
  }
  isMountPoint(): boolean {
    return false;
  }
}

const UNIT = '[Unit]\nDescription=demo\n[Service]\nExecStart=/bin/true\n';

describe('deploy/journal', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-journal-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('state machine', () => {
    it('begin → host → switched → done writes each state, then removes the file', async () => {
      const file = path.join(dir, 'journal', 'demo.json');
      const j = await DeployJournal.begin(file, { op: 'update', name: 'demo', from: 0, to: 1, wasActive: true });
      assert.equal(j.phase, 'prepare');
      assert.equal(readJournal(file)?.phase, 'prepare');
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      await j.hostFiles();
      assert.equal(readJournal(file)?.phase, 'host');
      await j.recordCreated(['/etc/demo.conf']);
      assert.deepEqual(readJournal(file)?.created, ['/etc/demo.conf']);
      await j.switched();
      assert.equal(readJournal(file)?.phase, 'switched');
      assert.deepEqual(readJournal(file)?.created, ['/etc/demo.conf'], 'created files survive the switch');
      await j.finish();
      assert.equal(j.phase, 'done');
      assert.equal(fs.existsSync(file), false);
    });

    it('refuses to skip host, to record files outside host, and to move after done', async () => {
      const file = path.join(dir, 'demo.json');
      const j = await DeployJournal.begin(file, { op: 'install', name: 'demo', from: null, to: 0, wasActive: false });
      assert.equal(await codeOf(() => j.switched()), 'INTERNAL');
      assert.equal(await codeOf(() => j.recordCreated(['/x'])), 'INTERNAL');
      assert.equal(readJournal(file)?.phase, 'prepare', 'a refused move writes nothing');
      await j.finish();
      assert.equal(await codeOf(() => j.hostFiles()), 'INTERNAL');
      assert.equal(fs.existsSync(file), false);
    });

    it('a replay re-enters host from switched (activation is idempotent)', async () => {
      const file = path.join(dir, 'demo.json');
      const entry: JournalEntry = { op: 'rollback', name: 'demo', to: 0, from: 1, phase: 'switched', wasActive: false, created: [], pid: 1, time: 1 };
      const j = DeployJournal.resume(file, entry);
      await j.hostFiles();
      await j.switched();
      assert.equal(readJournal(file)?.phase, 'switched');
    });

    it('keeps the on-disk format of earlier builds: same keys, same order, read back as written', async () => {
      const file = path.join(dir, 'demo.json');
      // a journal as main wrote it before the state machine existed
      const old = '{"op":"update","name":"demo","from":0,"to":1,"phase":"host","wasActive":true,"created":["/etc/a"],"pid":4242,"time":1700000000000}\n';
      fs.writeFileSync(file, old, { mode: 0o600 });
      const e = readJournal(file)!;
      const j = DeployJournal.resume(file, e);
      await j.switched();
      const after = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      assert.deepEqual(Object.keys(after), ['op', 'name', 'from', 'to', 'phase', 'wasActive', 'created', 'pid', 'time']);
      assert.deepEqual(after, { ...JSON.parse(old), phase: 'switched' });
      const fresh = await DeployJournal.begin(path.join(dir, 'new.json'), { op: 'install', name: 'x', from: null, to: 0, wasActive: false });
      assert.deepEqual(Object.keys(JSON.parse(fs.readFileSync(fresh.file, 'utf8'))).sort(), ['created', 'from', 'name', 'op', 'phase', 'pid', 'time', 'to', 'wasActive']);
    });
  });

  describe('planRecovery', () => {
    const table: Array<[Pick<JournalEntry, 'op' | 'phase' | 'to'>, boolean, string]> = [
      [{ op: 'uninstall', phase: 'host', to: 0 }, true, 'finish-uninstall'],
      [{ op: 'install', phase: 'prepare', to: 0 }, false, 'undo-install'],
      [{ op: 'install', phase: 'host', to: 0 }, true, 'undo-install'],
      [{ op: 'install', phase: 'switched', to: 0 }, true, 'roll-forward'],
      [{ op: 'update', phase: 'prepare', to: 1 }, true, 'discard-staging'],
      [{ op: 'update', phase: 'host', to: 1 }, true, 'roll-forward'],
      [{ op: 'update', phase: 'switched', to: 1 }, true, 'roll-forward'],
      [{ op: 'update', phase: 'host', to: 1 }, false, 'forget'],
      [{ op: 'rollback', phase: 'host', to: null }, true, 'forget'],
      [{ op: 'rollback', phase: 'switched', to: 0 }, true, 'roll-forward'],
    ];
    for (const [j, complete, want] of table) {
      it(`${j.op} in ${j.phase} (target ${complete ? 'complete' : 'missing'}) → ${want}`, () => assert.equal(planRecovery(j, complete), want));
    }
  });

  describe('recoverContainer through a fake HostPort', () => {
    let ctx: DeployContext;
    let host: FakeHost;
    let cp: ContainerPaths;
    let warnings: string[];

    beforeEach(() => {
      const root = path.join(dir, 'sysroot');
      const paths: StorePaths = {
        sysroot: root,
        userMode: false,
        repoPath: path.join(root, 'repo'),
        repoMode: 'bare',
        checkoutRoot: path.join(root, 'var/lib/containers/atomic'),
        preinstalledRoot: path.join(root, 'usr/lib/containers/atomic'),
        unitDir: path.join(root, 'etc/systemd/system'),
        tmpfilesDir: path.join(root, 'etc/tmpfiles.d'),
        conf: {},
      };
      for (const d of [paths.checkoutRoot, paths.unitDir, paths.tmpfilesDir]) fs.mkdirSync(d, { recursive: true });
      host = new FakeHost();
      warnings = [];
      ctx = {
        paths,
        out: { line: () => undefined, warn: (t) => warnings.push(t), isTTY: false },
        repo: () => Promise.reject(new Error('no store needed')),
        repoIfExists: () => Promise.resolve(null),
        host,
      };
      cp = containerPaths(paths, 'demo');
    });

    /** A complete slot: info, rootfs, its own copy of the unit (and tmpfiles when given). */
    function slot(s: 0 | 1, unit = UNIT, tmpfiles?: string): void {
      const d = cp.slotDir(s);
      fs.mkdirSync(path.join(d, 'rootfs'), { recursive: true });
      const info = {
        image: 'demo:latest',
        revision: `r${s}`,
        'ostree-commit': 'c'.repeat(64),
        created: 1,
        values: {},
        'has-container-service': true,
        'installed-files': [],
        'installed-files-checksum': {},
        'installed-files-template': [],
        'rename-installed-files': {},
        'rpm-installed': null,
        'system-package': 'no',
        remote: null,
        'use-links': true,
        runtime: '/usr/bin/runc',
      };
      fs.writeFileSync(path.join(d, 'info'), JSON.stringify(info, null, 4) + '\n');
      fs.writeFileSync(path.join(d, 'demo.service'), unit);
      if (tmpfiles !== undefined) fs.writeFileSync(path.join(d, 'tmpfiles-demo.conf'), tmpfiles);
    }
    /** The journal as a crash in `phase` left it. */
    async function crashAt(e: Omit<JournalEntry, 'name' | 'pid' | 'time' | 'created'>): Promise<void> {
      await writeJournal(cp.journal, { name: 'demo', pid: 999999, time: 1, created: [], ...e });
    }

    it('an update interrupted in host rolls forward: link switched, unit replaced, reload and start', async () => {
      slot(0, UNIT);
      slot(1, UNIT + '# new\n');
      fs.symlinkSync('/var/lib/containers/atomic/demo.0', cp.link);
      fs.writeFileSync(cp.hostUnit, UNIT);
      await crashAt({ op: 'update', from: 0, to: 1, phase: 'host', wasActive: true });
      const done = await recoverContainer(ctx, cp);
      assert.equal(done, 'completed the interrupted update of demo');
      assert.equal(currentSlot(cp), 1);
      assert.equal(fs.readFileSync(cp.hostUnit, 'utf8'), UNIT + '# new\n');
      assert.deepEqual(host.calls, ['daemon-reload', 'reset-failed demo.service', 'start demo.service']);
      assert.equal(fs.existsSync(cp.journal), false);
    });

    it('an install interrupted before the switch is undone: slots, unit and tmpfiles it wrote are removed', async () => {
      slot(0, UNIT, 'd /run/demo 0755 root root -\n');
      fs.writeFileSync(cp.hostUnit, UNIT);
      fs.writeFileSync(cp.hostTmpfiles, 'd /run/demo 0755 root root -\n');
      await crashAt({ op: 'install', from: null, to: 0, phase: 'host', wasActive: false });
      assert.equal(await recoverContainer(ctx, cp), 'removed the incomplete install of demo');
      assert.equal(fs.existsSync(cp.slotDir(0)), false);
      assert.equal(fs.existsSync(cp.hostUnit), false);
      assert.equal(fs.existsSync(cp.hostTmpfiles), false);
      assert.deepEqual(host.calls, ['tmpfiles --remove demo.conf']);
      assert.equal(fs.existsSync(cp.journal), false);
    });

    it('an update interrupted in begin touches nothing on the host: only the staging slot goes', async () => {
      slot(0);
      fs.symlinkSync('/var/lib/containers/atomic/demo.0', cp.link);
      const staging = path.join(cp.stateDir, 'staging', 'demo.1');
      fs.mkdirSync(staging, { recursive: true });
      await crashAt({ op: 'update', from: 0, to: 1, phase: 'prepare', wasActive: true });
      assert.equal(await recoverContainer(ctx, cp), 'discarded the incomplete update of demo');
      assert.equal(fs.existsSync(staging), false);
      assert.equal(currentSlot(cp), 0);
      assert.deepEqual(host.calls, []);
    });

    it('a journal writable by others is not obeyed, and is left in place with a warning', async () => {
      slot(0);
      slot(1);
      fs.symlinkSync('/var/lib/containers/atomic/demo.0', cp.link);
      await crashAt({ op: 'update', from: 0, to: 1, phase: 'switched', wasActive: true });
      fs.chmodSync(cp.journal, 0o666);
      assert.equal(await recoverContainer(ctx, cp), null);
      assert.equal(currentSlot(cp), 0);
      assert.deepEqual(host.calls, []);
      assert.match(warnings.join('\n'), /not replaying the journal .*writable by others/);
      assert.equal(fs.existsSync(cp.journal), true);
    });
  });
});
