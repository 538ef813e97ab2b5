/**
 * Whether a `systemd-tmpfiles --create FILE` / `--remove FILE` would change nothing, or (--create)
 * only create missing directories we can create the same way, so that the process (0.03-0.15 s
 * each, one per install, two per update or rollback) can be skipped. Deliberately narrow: any
 * doubt means "run the tool". The rules are those of tmpfiles.d(5):
 *
 * - `--remove` acts only on lines of type D, R (contents) and r, R (the path itself): a file with
 *   no such line is a no-op.
 * - `--create` of a `d` line on an existing directory only adjusts its mode and ownership. A file
 *   whose every line is a plain `d` (no modifier), with an absolute path without specifiers (`%`)
 *   or globs, an octal mode or `-` (0755), a numeric owner/group or `-` (the invoking user's),
 *   and no argument, is a no-op when each path exists as a directory with exactly that mode and
 *   owner, and no component of it below the root is a symlink (systemd-tmpfiles --root resolves
 *   symlinks inside the root; we do not try).
 * - `--create` of such a `d` line whose directory does not exist, below a parent that is a real
 *   directory (no symlink in the chain, no set-group-ID bit), makes it: mkdir with the mode, then
 *   chown to the owner and group given (a `-` keeps the creator's), then chmod to the mode when one
 *   is given (systemd-tmpfiles' order). Not with SELinux or SMACK enabled (the tool labels what it
 *   creates), not for a path listed twice, not when a parent is created by the same file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface DirLine {
  path: string;
  mode: number;
  uid: number;
  gid: number;
  /** The mode / owner / group field was `-`. */
  defaultMode: boolean;
  defaultUid: boolean;
  defaultGid: boolean;
}

/** A directory `--create` would make: its absolute path (below the root) and the line. */
export interface DirToCreate {
  dir: string;
  line: DirLine;
}

/** The non-comment lines of FILE split into fields, or null when it cannot be read. */
function lines(file: string): string[][] | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) continue;
    // quoting and backslash escapes are tmpfiles syntax we do not parse
    if (/["'\\]/.test(l)) return null;
    out.push(l.split(/\s+/));
  }
  return out;
}

/** `systemd-tmpfiles --remove FILE` would do nothing (no D, R or r line). */
export function tmpfilesRemoveIsNoOp(file: string): boolean {
  const ls = lines(file);
  return ls !== null && ls.every((f) => !/^[DRr]/.test(f[0]));
}

function parseDirLine(f: string[]): DirLine | null {
  const [type, p, mode = '-', user = '-', group = '-', , arg = '-'] = f;
  if (type !== 'd' || f.length > 7 || arg !== '-') return null;
  if (!p.startsWith('/') || /[%*?[\]]/.test(p) || p.split('/').some((c) => c === '.' || c === '..')) return null;
  const id = (v: string, own: number): number | null => (v === '-' ? own : /^\d{1,10}$/.test(v) ? Number(v) : null);
  const m = mode === '-' ? 0o755 : /^[0-7]{3,4}$/.test(mode) ? parseInt(mode, 8) : null;
  const uid = id(user, process.geteuid?.() ?? 0);
  const gid = id(group, process.getegid?.() ?? 0);
  if (m === null || uid === null || gid === null) return null;
  return { path: path.posix.normalize(p), mode: m, uid, gid, defaultMode: mode === '-', defaultUid: user === '-', defaultGid: group === '-' };
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

/** The host labels what systemd-tmpfiles creates (SELinux, SMACK): then only the tool creates. */
function labelling(): boolean {
  return fs.existsSync('/sys/fs/selinux/enforce') || fs.existsSync('/sys/fs/smackfs');
}

/**
 * What `systemd-tmpfiles [--root=ROOT] --create FILE` would do, when it is only creating missing
 * directories (or nothing): the directories to create, in order; null when the tool must run (see
 * the module comment). An empty list: the call is a no-op.
 */
export function tmpfilesCreatePlan(file: string, root: string): DirToCreate[] | null {
  const ls = lines(file);
  if (ls === null) return null;
  const out: DirToCreate[] = [];
  const seen = new Set<string>();
  for (const f of ls) {
    const d = parseDirLine(f);
    if (!d || seen.has(d.path)) return null;
    seen.add(d.path);
    let cur = root;
    const parts = d.path.split('/').filter(Boolean);
    for (let i = 0; i < parts.length; i++) {
      cur = path.join(cur, parts[i]);
      const st = lstatOrNull(cur);
      const last = i === parts.length - 1;
      if (st === null) {
        // only the directory itself may be missing, under a parent without the set-group-ID bit
        if (!last || i === 0 || (fs.lstatSync(path.dirname(cur)).mode & 0o2000) !== 0) return null;
        out.push({ dir: cur, line: d });
        break;
      }
      if (!st.isDirectory()) return null;
      if (last && ((st.mode & 0o7777) !== d.mode || st.uid !== d.uid || st.gid !== d.gid)) return null;
    }
  }
  if (out.length > 0 && labelling()) return null;
  return out;
}

/** Create PLAN's directories as systemd-tmpfiles does: mkdir, chown (owner/group given), chmod (mode given). Throws on error. */
export function applyTmpfilesCreatePlan(plan: DirToCreate[]): void {
  for (const { dir, line } of plan) {
    fs.mkdirSync(dir, { mode: line.mode });
    if (!line.defaultUid || !line.defaultGid) fs.chownSync(dir, line.defaultUid ? -1 : line.uid, line.defaultGid ? -1 : line.gid);
    if (!line.defaultMode) fs.chmodSync(dir, line.mode);
  }
}

/** `systemd-tmpfiles [--root=ROOT] --create FILE` would do nothing (see the module comment). */
export function tmpfilesCreateIsNoOp(file: string, root: string): boolean {
  return tmpfilesCreatePlan(file, root)?.length === 0;
}
