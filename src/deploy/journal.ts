/**
 * A tiny write-ahead journal per container (CK/.atomic/journal/NAME.json), written through
 * atomic-write before every step that touches the host. The next command on NAME reads it and
 * finishes (or undoes) the interrupted operation, so a crash leaves the container entirely old or
 * entirely new.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { atomicWrite, fsyncDir } from '../util/atomic-write.js';
import type { Slot } from './layout.js';

export type JournalOp = 'install' | 'update' | 'rollback' | 'uninstall';

export interface JournalEntry {
  op: JournalOp;
  name: string;
  /** Slot being deployed (install/update/rollback) or removed (uninstall). */
  to: Slot | null;
  from: Slot | null;
  /** prepare: only the new slot was touched; host: host files are being changed; switched: the link points at `to`. */
  phase: 'prepare' | 'host' | 'switched';
  wasActive: boolean;
  /** Host files created so far by this operation (hostfs copies), for undo. */
  created: string[];
  pid: number;
  time: number;
}

export function readJournal(file: string): JournalEntry | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as JournalEntry;
  } catch {
    return null;
  }
}

export async function writeJournal(file: string, e: JournalEntry): Promise<void> {
  ensurePrivateDir(path.dirname(file));
  await atomicWrite(file, JSON.stringify(e) + '\n', { mode: 0o600 });
}

/**
 * Our state directories (CK/.atomic and below): created 0700 whatever the umask, and tightened
 * when they already exist with group/other write access (a journal there could be swapped).
 */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (let d = dir, i = 0; i < 2 && path.basename(d) !== ''; d = path.dirname(d), i++) {
    try {
      const st = fs.lstatSync(d);
      if (st.isDirectory() && st.uid === (process.geteuid?.() ?? 0) && (st.mode & 0o077) !== 0) fs.chmodSync(d, 0o700);
    } catch {
      /* raced away: the next write fails clearly */
    }
  }
}

export async function clearJournal(file: string): Promise<void> {
  try {
    fs.unlinkSync(file);
    await fsyncDir(path.dirname(file));
  } catch {
    /* already gone */
  }
}
