/**
 * A tiny write-ahead journal per container (CK/.atomic/journal/NAME.json), written through
 * atomic-write before every step that touches the host. The next command on NAME reads it and
 * finishes (or undoes) the interrupted operation, so a crash leaves the container entirely old or
 * entirely new.
 *
 * One small state machine (`DeployJournal`), stored as the entry's `phase`:
 *
 *   begin ──▶ host ──▶ switched ──▶ done
 *  (prepare)   │ ▲ (host files being written: `created` grows)
 *              └─┘
 *
 *  - begin (`prepare`): only the new slot is being built; the host is untouched.
 *  - host: host files (hostfs copies, unit, tmpfiles) are being replaced; the link is not switched.
 *  - switched: `NAME` points at the new slot; what is left is reload/enable/start.
 *  - done: the journal file is removed.
 * Any state may go to done (finished, or undone). A replay (recovery, a health-gate revert) may
 * re-enter host from switched, because activation is idempotent. `planRecovery` says what the next
 * command does with a journal a crash left behind (recovery.ts `recoverContainer` carries it out).
 *
 * The on-disk format (one JSON object: op, name, to, from, phase, wasActive, created, pid, time) is
 * unchanged from the first version, so journals written by older builds are still recovered.
 * The file is read, written and removed only here, through `DeployJournal`; the use cases order
 * the steps of a `Deployment` (deployment.ts), which moves the journal.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { atomicWrite, fsyncDir } from '../util/atomic-write.js';
import { ensurePrivateDir } from './private-dir.js';
import type { Slot } from './layout.js';
import { AtomicError } from '../util/errors.js';

export type JournalOp = 'install' | 'update' | 'rollback' | 'uninstall';
/** The on-disk phase: `prepare` is the begin state (see the module comment). */
export type JournalPhase = 'prepare' | 'host' | 'switched';

export interface JournalEntry {
  op: JournalOp;
  name: string;
  /** Slot being deployed (install/update/rollback) or removed (uninstall). */
  to: Slot | null;
  from: Slot | null;
  /** prepare: only the new slot was touched; host: host files are being changed; switched: the link points at `to`. */
  phase: JournalPhase;
  wasActive: boolean;
  /** Host files created so far by this operation (hostfs copies), for undo. */
  created: string[];
  pid: number;
  time: number;
}

/** How an operation starts its journal. */
export interface JournalStart {
  op: JournalOp;
  name: string;
  from: Slot | null;
  to: Slot | null;
  wasActive: boolean;
  /** The first state (default: begin, `prepare`); an uninstall starts in host. */
  phase?: 'prepare' | 'host';
}

/** The journal of one operation on one container, moved only along the state machine above. */
export class DeployJournal {
  private done = false;
  private constructor(
    readonly file: string,
    private e: JournalEntry,
  ) {}

  /** Start an operation: the journal is written in `phase` (normally the begin state, `prepare`). */
  static async begin(file: string, o: JournalStart): Promise<DeployJournal> {
    const j = DeployJournal.plan(file, o);
    await j.write();
    return j;
  }

  /**
   * An operation whose first write is its activation (rollback: the first state on disk is host,
   * written by `hostFiles()`); nothing is written yet.
   */
  static plan(file: string, o: JournalStart): DeployJournal {
    return new DeployJournal(file, {
      op: o.op,
      name: o.name,
      from: o.from,
      to: o.to,
      phase: o.phase ?? 'prepare',
      wasActive: o.wasActive,
      created: [],
      pid: process.pid,
      time: Date.now(),
    });
  }

  /** The journal a crash left at `file`, as written (not yet checked: journal-trust.ts), or null when there is none (or it is not JSON). */
  static read(file: string): JournalEntry | null {
    return readJournal(file);
  }

  /** Continue from an entry (one this process holds in memory, or one read back for recovery); nothing is written yet. */
  static resume(file: string, entry: JournalEntry): DeployJournal {
    return new DeployJournal(file, { ...entry, created: [...(entry.created ?? [])] });
  }

  get entry(): Readonly<JournalEntry> {
    return this.e;
  }

  get phase(): JournalPhase | 'done' {
    return this.done ? 'done' : this.e.phase;
  }

  /** → host: host files are about to change (from begin; again from host; from switched on a replay). */
  async hostFiles(): Promise<void> {
    await this.move('host');
  }

  /** Record the host files this operation created so far (state host), for undo. */
  async recordCreated(created: string[]): Promise<void> {
    if (this.phase !== 'host') throw this.illegal(`record created files in state ${this.phase}`);
    this.e = { ...this.e, created: [...created] };
    await this.write();
  }

  /** host → switched: the link now points at the new slot. */
  async switched(): Promise<void> {
    await this.move('switched');
  }

  /** → done: the operation finished or was undone; the journal file goes. */
  async finish(): Promise<void> {
    this.done = true;
    await clearJournal(this.file);
  }

  private async move(to: 'host' | 'switched'): Promise<void> {
    const from = this.phase;
    if (from === 'done') throw this.illegal(`move to ${to} after done`);
    // host is entered from begin, re-entered from host, or replayed from switched; switched only follows host
    if (to === 'switched' && from !== 'host') throw this.illegal(`move from ${from} to ${to}`);
    this.e = { ...this.e, phase: to };
    await this.write();
  }

  private illegal(what: string): AtomicError {
    return new AtomicError('INTERNAL', `deployment journal ${this.file}: cannot ${what}`);
  }

  private async write(): Promise<void> {
    await writeJournal(this.file, this.e);
  }
}

/** What recovery does with a journal an interrupted operation left (see `planRecovery`). */
export type RecoveryAction =
  /** uninstall: run the (idempotent) uninstall steps to the end */
  | 'finish-uninstall'
  /** install that never switched: remove what it created; the container stays absent */
  | 'undo-install'
  /** update/rollback still in begin: the host was not touched; drop the half-built staging slot */
  | 'discard-staging'
  /** update/rollback/install from host or switched, target slot complete: activate it again */
  | 'roll-forward'
  /** nothing to replay (the target is gone): just forget the journal */
  | 'forget';

/** The recovery decision, a pure function of the entry and whether the target slot is complete. */
export function planRecovery(j: Pick<JournalEntry, 'op' | 'phase' | 'to'>, targetComplete: boolean): RecoveryAction {
  if (j.op === 'uninstall') return 'finish-uninstall';
  if (j.op === 'install' && j.phase !== 'switched') return 'undo-install';
  if (j.phase === 'prepare') return 'discard-staging';
  return j.to !== null && targetComplete ? 'roll-forward' : 'forget';
}

function readJournal(file: string): JournalEntry | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as JournalEntry;
  } catch {
    return null;
  }
}

async function writeJournal(file: string, e: JournalEntry): Promise<void> {
  ensurePrivateDir(path.dirname(file));
  await atomicWrite(file, JSON.stringify(e) + '\n', { mode: 0o600 });
}

async function clearJournal(file: string): Promise<void> {
  try {
    fs.unlinkSync(file);
    await fsyncDir(path.dirname(file));
  } catch {
    /* already gone */
  }
}
