/**
 * The deployment steps (deploy/deployment.ts) the use cases order, driven through a recording
 * HostPort (test/helpers/recording-host.ts): which journal state the host sees at each call, the
 * ways back (restorePrevious, undoInstall), and that a host failure at any call of an activation
 * or an uninstall leaves a journal from which recovery converges (entirely old or entirely new).
 * The same paths with real systemd, runc and process kills: test/integration/deploy/crash-injection
 * and test/system.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Deployment } from '../../../src/deploy/deployment.js';
import { DeployJournal } from '../../../src/deploy/journal.js';
import { recoverContainer } from '../../../src/deploy/recovery.js';
import { currentSlot } from '../../../src/deploy/layout.js';
import { deploySandbox, UNIT, type DeploySandbox } from '../../helpers/deploy-sandbox.js';

const NEW_UNIT = UNIT + '# new\n';
const SERVICE = 'demo.service';
const OWN_START = "/bin/sh -c 'runc delete -f demo >/dev/null 2>&1; exec runc run demo'";
const OWN_UNIT = `[Unit]\nDescription=demo\n[Service]\nExecStart=${OWN_START}\n`;
/** The slots as the host sees them (the sandbox's NAME link and a runtime's bundle). */
const SLOT0 = '/var/lib/containers/atomic/demo.0';
const SLOT1 = '/var/lib/containers/atomic/demo.1';

describe('deploy/deployment', () => {
  let dir: string;
  let sb: DeploySandbox;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-deployment-'));
    sb = deploySandbox(dir);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** demo live and running on slot 0, slot 1 prepared with a new unit. */
  function liveOn0WithUpdateIn1(): void {
    sb.slot(0, UNIT);
    sb.slot(1, NEW_UNIT);
    sb.live(0);
    sb.host.states.set(SERVICE, 'active');
    sb.host.bundles.set('demo', SLOT0);
  }

  /** The same with units that start the container with atomic's own EXEC_START: the update restarts the unit in one call. */
  function liveOn0WithRestartableUpdateIn1(): void {
    sb.slot(0, OWN_UNIT, undefined, { EXEC_START: OWN_START });
    sb.slot(1, OWN_UNIT + '# new\n', undefined, { EXEC_START: OWN_START });
    sb.live(0);
    sb.host.states.set(SERVICE, 'active');
    sb.host.bundles.set('demo', SLOT0);
  }

  /** What the host sees: every call with the journal state on disk at that moment. */
  function watchPhases(): string[] {
    const seen: string[] = [];
    sb.host.onCall = (c) => seen.push(`${c} @${DeployJournal.read(sb.cp.journal)?.phase ?? 'none'}`);
    return seen;
  }

  /** An update from slot 0 to 1 (set up by SETUP) whose activation fails at the host call VERB, after the switch. */
  async function failedActivationAfterSwitch(setup: () => void, verb: 'start' | 'restart'): Promise<Deployment> {
    setup();
    const d = await Deployment.begin(sb.ctx, sb.cp, { op: 'update', from: 0, to: 1, wasActive: true });
    sb.host.failWhen((c) => c.startsWith(`${verb} `));
    await assert.rejects(d.activate({ enable: false, start: true, stopFirst: true }), new RegExp(`host failure injected at: ${verb}`));
    assert.equal(currentSlot(sb.cp), 1, 'the failure came after the switch');
    return d;
  }

  it('update: begin writes the begin state; activation changes the host only in host/switched and starts after the switch; finish removes the journal', async () => {
    liveOn0WithUpdateIn1();
    const d = await Deployment.begin(sb.ctx, sb.cp, { op: 'update', from: 0, to: 1, wasActive: true });
    assert.equal(DeployJournal.read(sb.cp.journal)?.phase, 'prepare');
    assert.deepEqual(sb.host.calls, [], 'begin does not touch the host');
    const seen = watchPhases();
    const { started } = await d.activate({ enable: false, start: true, stopFirst: true });
    assert.equal(started, true);
    assert.ok(seen.length > 0);
    for (const c of seen) assert.match(c, /@(host|switched)$/, `a host call outside host/switched: ${c}`);
    assert.ok(seen.includes(`stop ${SERVICE} @host`), seen.join(', '));
    assert.ok(seen.includes(`start ${SERVICE} @switched`), seen.join(', '));
    assert.equal(currentSlot(sb.cp), 1);
    assert.equal(fs.readFileSync(sb.cp.hostUnit, 'utf8'), NEW_UNIT);
    assert.equal(DeployJournal.read(sb.cp.journal)?.phase, 'switched');
    await d.finish();
    assert.equal(fs.existsSync(sb.cp.journal), false);
  });

  it('update: a failed activation is undone by restorePrevious (old slot live and started, new slot removed, journal gone)', async () => {
    const d = await failedActivationAfterSwitch(liveOn0WithUpdateIn1, 'start');
    await d.restorePrevious();
    assert.equal(currentSlot(sb.cp), 0);
    assert.equal(fs.readFileSync(sb.cp.hostUnit, 'utf8'), UNIT);
    assert.equal(fs.existsSync(sb.cp.slotDir(1)), false);
    assert.equal(sb.host.state(SERVICE), 'active');
    assert.equal(fs.existsSync(sb.cp.journal), false);
  });

  it('update: abandon after a failed prepare drops only the journal', async () => {
    liveOn0WithUpdateIn1();
    const d = await Deployment.begin(sb.ctx, sb.cp, { op: 'update', from: 0, to: 1, wasActive: true });
    await d.abandon();
    assert.equal(fs.existsSync(sb.cp.journal), false);
    assert.equal(currentSlot(sb.cp), 0);
    assert.equal(fs.readFileSync(sb.cp.hostUnit, 'utf8'), UNIT);
    assert.deepEqual(sb.host.calls, []);
  });

  it('rollback: switchTo writes nothing until activation, whose first state on disk is host', async () => {
    liveOn0WithUpdateIn1();
    sb.live(1);
    const d = Deployment.switchTo(sb.ctx, sb.cp, { op: 'rollback', from: 1, to: 0, wasActive: true });
    assert.equal(fs.existsSync(sb.cp.journal), false);
    const seen = watchPhases();
    await d.activate({ enable: false, start: true, stopFirst: true });
    assert.match(seen[0] ?? '', /@host$/);
    assert.equal(currentSlot(sb.cp), 0);
    assert.equal(fs.readFileSync(sb.cp.hostUnit, 'utf8'), UNIT);
    await d.finish();
    assert.equal(fs.existsSync(sb.cp.journal), false);
  });

  it('install: undoInstall after a failed activation removes the link, the slot, the unit and the journal', async () => {
    sb.slot(0, UNIT, 'd /run/demo 0755 root root -\n');
    const d = await Deployment.begin(sb.ctx, sb.cp, { op: 'install', from: null, to: 0, wasActive: false });
    sb.host.failWhen((c) => c.startsWith('enable '));
    await assert.rejects(d.activate({ enable: true, start: false, stopFirst: false }), /host failure injected at: enable/);
    assert.equal(currentSlot(sb.cp), 0);
    await d.undoInstall();
    for (const p of [sb.cp.link, sb.cp.slotDir(0), sb.cp.hostUnit, sb.cp.hostTmpfiles, sb.cp.journal]) assert.equal(fs.existsSync(p), false, `${p} is left`);
    assert.ok(sb.host.calls.includes(`disable --now ${SERVICE}`), sb.host.calls.join(', '));
    assert.ok(sb.host.calls.includes('tmpfiles --remove demo.conf'), sb.host.calls.join(', '));
  });

  it('uninstall: begin writes host at once; the steps remove everything atomic wrote; finish removes the journal', async () => {
    sb.slot(0, UNIT, 'd /run/demo 0755 root root -\n');
    sb.live(0);
    const d = await Deployment.begin(sb.ctx, sb.cp, { op: 'uninstall', from: 0, to: 0, wasActive: false });
    assert.equal(DeployJournal.read(sb.cp.journal)?.phase, 'host');
    assert.deepEqual(await d.uninstall(), []);
    await d.finish();
    for (const p of [sb.cp.link, sb.cp.slotDir(0), sb.cp.hostUnit, sb.cp.hostTmpfiles, sb.cp.journal]) assert.equal(fs.existsSync(p), false, `${p} is left`);
    assert.deepEqual(sb.host.calls, [`disable --now ${SERVICE}`, 'reap demo', 'daemon-reload', `reset-failed ${SERVICE}`, 'tmpfiles --remove demo.conf']);
  });

  /** Start again from an empty sandbox. */
  function fresh(): void {
    fs.rmSync(dir, { recursive: true, force: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-deployment-'));
    sb = deploySandbox(dir);
  }

  /** The number of host calls a clean run of `run` makes (then a fresh sandbox). */
  async function callsOf(setup: () => void, run: () => Promise<unknown>): Promise<number> {
    setup();
    await run();
    const n = sb.host.calls.length;
    fresh();
    return n;
  }

  it('update: a host failure at any call of the activation leaves a journal from which recovery completes the update', async () => {
    const activate = async (): Promise<void> => {
      const d = await Deployment.begin(sb.ctx, sb.cp, { op: 'update', from: 0, to: 1, wasActive: true });
      await d.activate({ enable: false, start: true, stopFirst: true });
    };
    const n = await callsOf(liveOn0WithUpdateIn1, activate);
    assert.ok(n >= 3, `a clean activation makes ${n} host calls`);
    for (let k = 0; k < n; k++) {
      liveOn0WithUpdateIn1();
      sb.host.failAt(k);
      await assert.rejects(activate(), /host failure injected/);
      const phase = DeployJournal.read(sb.cp.journal)?.phase;
      assert.ok(phase === 'host' || phase === 'switched', `call ${k}: journal ${phase}`);
      assert.equal(await recoverContainer(sb.ctx, sb.cp), 'completed the interrupted update of demo', `call ${k}`);
      assert.equal(currentSlot(sb.cp), 1, `call ${k}`);
      assert.equal(fs.readFileSync(sb.cp.hostUnit, 'utf8'), NEW_UNIT, `call ${k}`);
      assert.equal(sb.host.state(SERVICE), 'active', `call ${k}: started again`);
      assert.equal(sb.host.bundles.get('demo'), SLOT1, `call ${k}: the running container is the new deployment's`);
      assert.equal(fs.existsSync(sb.cp.journal), false, `call ${k}`);
      fresh();
    }
  });

  it("update of a running unit with atomic's own ExecStart: one restart after the switch, no stop before it", async () => {
    liveOn0WithRestartableUpdateIn1();
    const d = await Deployment.begin(sb.ctx, sb.cp, { op: 'update', from: 0, to: 1, wasActive: true });
    const seen = watchPhases();
    const { started } = await d.activate({ enable: false, start: true, stopFirst: true });
    assert.equal(started, true);
    assert.deepEqual(seen, ['daemon-reload @host', `reset-failed ${SERVICE} @host`, `restart ${SERVICE} @switched`]);
    assert.equal(currentSlot(sb.cp), 1);
    assert.equal(sb.host.bundles.get('demo'), SLOT1);
    await d.finish();
    // a hostfs file on the live side, another runtime, or a unit not started by EXEC_START: stop → switch → start as before
    fresh();
    liveOn0WithRestartableUpdateIn1();
    sb.slot(1, OWN_UNIT + '# new\n', undefined, { EXEC_START: '/bin/true' });
    const d2 = await Deployment.begin(sb.ctx, sb.cp, { op: 'update', from: 0, to: 1, wasActive: true });
    const seen2 = watchPhases();
    await d2.activate({ enable: false, start: true, stopFirst: true });
    assert.ok(seen2.includes(`stop ${SERVICE} @host`) && seen2.includes(`start ${SERVICE} @switched`), seen2.join(', '));
    assert.ok(!seen2.some((c) => c.startsWith('restart')), seen2.join(', '));
  });

  it('restart path: a failed restart is undone by restorePrevious (old slot live, running again, new slot removed)', async () => {
    const d = await failedActivationAfterSwitch(liveOn0WithRestartableUpdateIn1, 'restart');
    sb.host.states.set(SERVICE, 'failed');
    await d.restorePrevious();
    assert.equal(currentSlot(sb.cp), 0);
    assert.equal(fs.readFileSync(sb.cp.hostUnit, 'utf8'), OWN_UNIT);
    assert.equal(fs.existsSync(sb.cp.slotDir(1)), false);
    assert.equal(sb.host.state(SERVICE), 'active');
    assert.equal(sb.host.bundles.get('demo'), SLOT0);
    assert.equal(fs.existsSync(sb.cp.journal), false);
  });

  it('restart path: a failure (or kill) at any call leaves a journal from which recovery restarts the unit on the new deployment', async () => {
    const activate = async (): Promise<void> => {
      const d = await Deployment.begin(sb.ctx, sb.cp, { op: 'update', from: 0, to: 1, wasActive: true });
      await d.activate({ enable: false, start: true, stopFirst: true });
    };
    const n = await callsOf(liveOn0WithRestartableUpdateIn1, activate);
    assert.equal(n, 3, 'daemon-reload, reset-failed, restart');
    for (let k = 0; k < n; k++) {
      liveOn0WithRestartableUpdateIn1();
      sb.host.failAt(k);
      await assert.rejects(activate(), /host failure injected/);
      assert.equal(sb.host.bundles.get('demo'), SLOT0, `call ${k}: the old container still runs`);
      assert.equal(await recoverContainer(sb.ctx, sb.cp), 'completed the interrupted update of demo', `call ${k}`);
      assert.equal(currentSlot(sb.cp), 1, `call ${k}`);
      assert.equal(sb.host.state(SERVICE), 'active', `call ${k}`);
      assert.equal(sb.host.bundles.get('demo'), SLOT1, `call ${k}: restarted on the new deployment`);
      assert.equal(fs.existsSync(sb.cp.journal), false, `call ${k}`);
      fresh();
    }
  });

  it('recovery leaves alone a unit that already runs the target deployment (killed after the restart)', async () => {
    liveOn0WithRestartableUpdateIn1();
    const d = await Deployment.begin(sb.ctx, sb.cp, { op: 'update', from: 0, to: 1, wasActive: true });
    await d.activate({ enable: false, start: true, stopFirst: true });
    assert.equal(DeployJournal.read(sb.cp.journal)?.phase, 'switched', 'as a kill before finish leaves it');
    sb.host.calls = [];
    assert.equal(await recoverContainer(sb.ctx, sb.cp), 'completed the interrupted update of demo');
    assert.ok(!sb.host.calls.some((c) => /^(stop|restart) /.test(c)), sb.host.calls.join(', '));
    assert.equal(sb.host.bundles.get('demo'), SLOT1);
  });

  it('uninstall: a host failure at any call leaves a journal from which recovery finishes the uninstall', async () => {
    const setup = (): void => {
      sb.slot(0, UNIT, 'd /run/demo 0755 root root -\n');
      sb.slot(1, UNIT);
      sb.live(0);
    };
    const uninstall = async (): Promise<void> => {
      const d = await Deployment.begin(sb.ctx, sb.cp, { op: 'uninstall', from: 0, to: 0, wasActive: false });
      await d.uninstall();
      await d.finish();
    };
    const n = await callsOf(setup, uninstall);
    assert.ok(n >= 3, `a clean uninstall makes ${n} host calls`);
    let failures = 0;
    for (let k = 0; k < n; k++) {
      setup();
      sb.host.failAt(k);
      // a failed daemon-reload is ignored (as atomic did): that uninstall completes by itself
      const failed = await uninstall().then(
        () => false,
        (e: Error) => {
          assert.match(e.message, /host failure injected/);
          return true;
        },
      );
      if (failed) {
        failures++;
        assert.equal(DeployJournal.read(sb.cp.journal)?.op, 'uninstall', `call ${k}`);
        assert.equal(await recoverContainer(sb.ctx, sb.cp), 'completed the interrupted uninstall of demo', `call ${k}`);
      } else assert.equal(await recoverContainer(sb.ctx, sb.cp), null, `call ${k}: nothing to recover`);
      for (const p of [sb.cp.link, sb.cp.slotDir(0), sb.cp.slotDir(1), sb.cp.hostUnit, sb.cp.hostTmpfiles, sb.cp.journal])
        assert.equal(fs.existsSync(p), false, `call ${k}: ${p} is left`);
      fresh();
    }
    assert.ok(failures >= 3, `${failures} of ${n} injected failures stopped the uninstall`);
  });
});
