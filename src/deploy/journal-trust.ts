/**
 * Whether a recovery journal may be obeyed. A journal tells the next command which host files to
 * delete and which slot to activate, so it is replayed only when
 *  - it is a regular file with one link, owned by the user running atomic (root; the invoking
 *    user in --user mode), and not writable by group or others;
 *  - it is well formed and names this container;
 *  - every host path it lists (`created`) is one of this container's own host files: recorded in
 *    a slot's `info`, or one the target slot's /exports/hostfs maps to.
 * Kept apart from the journal's state machine (journal.ts, recovery.ts) on purpose.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JournalEntry } from './journal.js';
import { isSlotDir, type ContainerPaths } from './layout.js';

const OPS = new Set(['install', 'update', 'rollback', 'uninstall']);
const PHASES = new Set(['prepare', 'host', 'switched']);

/** The owner/mode check alone (the file itself). */
export function journalFileProblem(file: string, euid = process.geteuid?.() ?? 0): string | null {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (e) {
    return `cannot stat it (${(e as Error).message})`;
  }
  if (!st.isFile()) return 'it is not a regular file';
  if (st.uid !== euid) return `it is owned by uid ${st.uid}, not by uid ${euid} who runs atomic`;
  if ((st.mode & 0o022) !== 0) return `it is writable by ${st.mode & 0o002 ? 'others' : 'its group'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
  if (st.nlink !== 1) return `it has ${st.nlink} hard links`;
  return null;
}

function slotHostFiles(slotDir: string): string[] {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(slotDir, 'info'), 'utf8')) as { 'installed-files-checksum'?: Record<string, string>; 'installed-files'?: string[] };
    return [...Object.keys(info['installed-files-checksum'] ?? {}), ...(info['installed-files'] ?? [])];
  } catch {
    return [];
  }
}

/**
 * Why the journal `j` read from `file` must not be replayed for container `cp`, or null when it
 * may. `plannedHostfs(slot)` lists the host paths a slot's /exports/hostfs maps to.
 */
export function journalTrustProblem(file: string, j: unknown, cp: ContainerPaths, plannedHostfs: (slotDir: string) => string[], euid?: number): string | null {
  const fileProblem = journalFileProblem(file, euid);
  if (fileProblem) return fileProblem;
  if (typeof j !== 'object' || j === null) return 'it is not a JSON object';
  const e = j as Partial<JournalEntry>;
  if (!OPS.has(String(e.op))) return `unknown operation ${JSON.stringify(e.op)}`;
  if (e.name !== cp.name) return `it names the container ${JSON.stringify(e.name)}, not ${cp.name}`;
  for (const k of ['to', 'from'] as const) if (!(e[k] === 0 || e[k] === 1 || e[k] === null || e[k] === undefined)) return `invalid slot ${JSON.stringify(e[k])} in "${k}"`;
  if (!PHASES.has(String(e.phase))) return `unknown phase ${JSON.stringify(e.phase)}`;
  const created = e.created ?? [];
  if (!Array.isArray(created) || created.some((c) => typeof c !== 'string')) return '"created" is not a list of paths';
  if (created.length === 0) return null;
  const own = new Set<string>();
  for (const s of [0, 1] as const) {
    const dir = cp.slotDir(s);
    if (!isSlotDir(dir)) continue;
    for (const p of slotHostFiles(dir)) own.add(p);
  }
  if (e.to === 0 || e.to === 1) {
    const dir = cp.slotDir(e.to);
    if (isSlotDir(dir)) for (const p of plannedHostfs(dir)) own.add(p);
  }
  for (const c of created as string[]) {
    if (!c.startsWith('/') || path.posix.normalize(c) !== c || c.split('/').includes('..')) return `it lists the path ${JSON.stringify(c)}, which is not a normalized absolute path`;
    if (!own.has(c)) return `it lists ${c}, which is not one of ${cp.name}'s host files`;
  }
  return null;
}
