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
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await atomicWrite(file, JSON.stringify(e) + '\n');
}

export async function clearJournal(file: string): Promise<void> {
  try {
    fs.unlinkSync(file);
    await fsyncDir(path.dirname(file));
  } catch {
    /* already gone */
  }
}
