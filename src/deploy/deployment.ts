/**
 * One operation on one container's deployments (install, update, rollback, uninstall) as the named
 * steps the app use cases put in order (model: ostree-sysroot-deploy.c). Each step moves the
 * operation's journal (journal.ts), so a crash between any two leaves a journal the next command
 * recovers from (recovery.ts):
 *
 *   begin          the journal is written (begin state; an uninstall starts in host)
 *   prepare        the target slot is built in staging and swapped in; the host is untouched
 *   activate       host files, the switch of NAME, reload/enable/start (activate-slot.ts)
 *   watch          the health gate of update/rollback; a failing deployment is switched back
 *   finish         the journal is removed: the operation is done
 *
 * and the ways back: `abandon` (a failed prepare: nothing else was touched), `restorePrevious`
 * (a failed update activation), `undoInstall` (a failed install leaves nothing).
 */
import type { DeployContext } from './context.js';
import { DeployJournal, type JournalOp, type JournalEntry } from './journal.js';
import { prepareSlot, type PreparedSlot } from './prepare-slot.js';
import type { PrepareInput } from './render-slot.js';
import { activateSlot, systemdFor } from './activate-slot.js';
import { finishUninstall } from './uninstall-steps.js';
import { healthGate } from './health-gate.js';
import { removeHostfs } from './hostfs.js';
import { removeDurable, exists } from './slot-files.js';
import { unitName } from './container-name.js';
import type { ContainerPaths, Slot } from './layout.js';
import { removeTreeSync } from '../util/remove-tree.js';

export interface DeploymentStart {
  op: JournalOp;
  /** The live slot before the operation (null: install). */
  from: Slot | null;
  /** The slot deployed (install, update, rollback) or removed (uninstall; null when no link is left). */
  to: Slot | null;
  /** The unit was active before (started again after the switch). */
  wasActive: boolean;
}

export interface ActivateStep {
  /** Enable the unit (install). */
  enable: boolean;
  /** Start the unit afterwards. */
  start: boolean;
  /** Stop the unit first if it is active. */
  stopFirst: boolean;
}

export class Deployment {
  private constructor(
    private readonly ctx: DeployContext,
    readonly cp: ContainerPaths,
    private readonly journal: DeployJournal,
  ) {}

  /** begin: the journal is written in the begin state (an uninstall: in host, it changes the host at once). */
  static async begin(ctx: DeployContext, cp: ContainerPaths, o: DeploymentStart): Promise<Deployment> {
    const phase = o.op === 'uninstall' ? 'host' : 'prepare';
    return new Deployment(ctx, cp, await DeployJournal.begin(cp.journal, { op: o.op, name: cp.name, from: o.from, to: o.to, wasActive: o.wasActive, phase }));
  }

  /** A switch to a slot that is complete already (rollback): nothing to prepare, so the first journal write is activation's (host). */
  static switchTo(ctx: DeployContext, cp: ContainerPaths, o: DeploymentStart): Deployment {
    return new Deployment(ctx, cp, DeployJournal.plan(cp.journal, { op: o.op, name: cp.name, from: o.from, to: o.to, wasActive: o.wasActive, phase: 'host' }));
  }

  /** The journal entry as the operation began (activation and a switch back replay from it). */
  get entry(): Readonly<JournalEntry> {
    return this.journal.entry;
  }

  private get from(): Slot {
    return this.entry.from as Slot;
  }

  private get to(): Slot {
    return this.entry.to as Slot;
  }

  /** prepare: build the target slot (staging, then swapped in); the host is not touched. */
  prepare(inp: Omit<PrepareInput, 'cp' | 'slot'>): Promise<PreparedSlot> {
    return prepareSlot(this.ctx, { ...inp, cp: this.cp, slot: this.to });
  }

  /** activate: make the target slot the live deployment. Returns whether the unit was started. */
  activate(o: ActivateStep): Promise<{ started: boolean }> {
    return activateSlot(this.ctx, this.cp, this.to, { journal: this.entry, ...o });
  }

  /** The uninstall steps (idempotent); returns the host files left alone (not written by atomic). */
  uninstall(): Promise<string[]> {
    return finishUninstall(this.ctx, this.cp);
  }

  /**
   * watch: the health gate of an update/rollback that started the unit (`watch` 0: not watched).
   * A failing deployment is switched back to `from` (when `revert`, default true), then it throws.
   */
  watch(watch: number, o: { revert?: boolean } = {}): Promise<void> {
    const op = this.entry.op === 'rollback' ? 'rollback' : 'update';
    return healthGate(this.ctx, this.cp, { op, from: this.from, to: this.to, watch, revert: o.revert, switchBack: () => this.switchBack() });
  }

  /** finish: the operation is done (or undone); the journal goes. */
  finish(): Promise<void> {
    return this.journal.finish();
  }

  /** A failed prepare: prepareSlot removed its staging dir and both slots are as they were; only the journal goes. */
  abandon(): Promise<void> {
    return this.finish();
  }

  /** A failed update activation: the previous slot is activated again (restarted if it was active), the new one removed, then done. */
  async restorePrevious(): Promise<void> {
    const e = this.entry;
    await activateSlot(this.ctx, this.cp, this.from, { journal: { ...e, from: this.to, to: this.from }, enable: false, start: e.wasActive, stopFirst: true });
    removeTreeSync(this.cp.slotDir(this.to));
    await this.finish();
  }

  /** The health gate's way back: `from` activated and started again, then done. */
  private async switchBack(): Promise<void> {
    await activateSlot(this.ctx, this.cp, this.from, { journal: { ...this.entry, from: this.to, to: this.from, wasActive: true }, enable: false, start: true, stopFirst: true });
    await this.finish();
  }

  /** A failed install: every trace goes (host files it created, link, slot, journal). */
  async undoInstall(): Promise<void> {
    const { ctx, cp } = this;
    const j = DeployJournal.read(cp.journal);
    const sd = systemdFor(ctx);
    try {
      if (exists(cp.hostTmpfiles)) sd.tmpfilesRemove(cp.hostTmpfiles);
    } catch {
      /* best effort */
    }
    if (exists(cp.hostUnit)) {
      try {
        sd.disableNow(unitName(cp.name));
      } catch {
        /* best effort */
      }
    }
    for (const f of j?.created ?? []) removeHostfs(ctx.paths.sysroot, { [f]: '*' });
    await removeDurable(cp.link);
    await removeDurable(cp.hostUnit);
    await removeDurable(cp.hostTmpfiles);
    removeTreeSync(cp.slotDir(0));
    await this.finish();
  }
}
