/**
 * The deployment journal as a state machine (begin → host → switched → done), its on-disk format,
 * the recovery plan, and recovery carried out against a recording HostPort (test/helpers/recording-host.ts): no systemd, no
 * runtime, no mounts — only files in a temp directory.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeployJournal, planRecovery, type JournalEntry } from '../../../src/deploy/journal.js';
import { recoverContainer } from '../../../src/deploy/recovery.js';
import { currentSlot, type ContainerPaths } from '../../../src/deploy/layout.js';
import type { DeployContext } from '../../../src/deploy/context.js';
import { codeOf } from '../../helpers/error-code.js';
import type { RecordingHost } from '../../helpers/recording-host.js';
import { deploySandbox, UNIT, type DeploySandbox } from '../../helpers/deploy-sandbox.js';

const readJournal = (file: string): JournalEntry | null => DeployJournal.read(file);

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
      assert.deepEqual(
        Object.keys(JSON.parse(fs.readFileSync(fresh.file, 'utf8'))),
        ['op', 'name', 'from', 'to', 'phase', 'wasActive', 'created', 'pid', 'time'],
        'a new journal keeps the key order the use cases wrote',
      );
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

  describe('recoverContainer through a recording HostPort', () => {
    let ctx: DeployContext;
    let host: RecordingHost;
    let cp: ContainerPaths;
    let warnings: string[];
    let slot: DeploySandbox['slot'];

    beforeEach(() => {
      ({ ctx, host, cp, warnings, slot } = deploySandbox(dir));
    });

    /** The journal as a crash in `phase` left it. */
    function crashAt(e: Omit<JournalEntry, 'name' | 'pid' | 'time' | 'created'>): void {
      // the on-disk format, written as a crashed process left it (0600 in a 0700 directory)
      fs.mkdirSync(path.dirname(cp.journal), { recursive: true, mode: 0o700 });
      fs.writeFileSync(
        cp.journal,
        JSON.stringify({ op: e.op, name: 'demo', from: e.from, to: e.to, phase: e.phase, wasActive: e.wasActive, created: [], pid: 999999, time: 1 }) + '\n',
        { mode: 0o600 },
      );
    }

    it('an update interrupted in host rolls forward: link switched, unit replaced, reload and start', async () => {
      slot(0, UNIT);
      slot(1, UNIT + '# new\n');
      fs.symlinkSync('/var/lib/containers/atomic/demo.0', cp.link);
      fs.writeFileSync(cp.hostUnit, UNIT);
      crashAt({ op: 'update', from: 0, to: 1, phase: 'host', wasActive: true });
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
      crashAt({ op: 'install', from: null, to: 0, phase: 'host', wasActive: false });
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
      crashAt({ op: 'update', from: 0, to: 1, phase: 'prepare', wasActive: true });
      assert.equal(await recoverContainer(ctx, cp), 'discarded the incomplete update of demo');
      assert.equal(fs.existsSync(staging), false);
      assert.equal(currentSlot(cp), 0);
      assert.deepEqual(host.calls, []);
    });

    it('a journal writable by others is not obeyed, and is left in place with a warning', async () => {
      slot(0);
      slot(1);
      fs.symlinkSync('/var/lib/containers/atomic/demo.0', cp.link);
      crashAt({ op: 'update', from: 0, to: 1, phase: 'switched', wasActive: true });
      fs.chmodSync(cp.journal, 0o666);
      assert.equal(await recoverContainer(ctx, cp), null);
      assert.equal(currentSlot(cp), 0);
      assert.deepEqual(host.calls, []);
      assert.match(warnings.join('\n'), /not replaying the journal .*writable by others/);
      assert.equal(fs.existsSync(cp.journal), true);
    });
  });
});
