/**
 * Whether a `systemd-tmpfiles --create FILE` / `--remove FILE` would change nothing, so that the
 * process (0.03-0.15 s each, two per update or rollback) can be skipped. Deliberately narrow: any
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
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface DirLine {
  path: string;
  mode: number;
  uid: number;
  gid: number;
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
  return { path: path.posix.normalize(p), mode: m, uid, gid };
}

/** `systemd-tmpfiles [--root=ROOT] --create FILE` would do nothing (see the module comment). */
export function tmpfilesCreateIsNoOp(file: string, root: string): boolean {
  const ls = lines(file);
  if (ls === null) return false;
  for (const f of ls) {
    const d = parseDirLine(f);
    if (!d) return false;
    let cur = root;
    const parts = d.path.split('/').filter(Boolean);
    for (let i = 0; i < parts.length; i++) {
      cur = path.join(cur, parts[i]);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(cur);
      } catch {
        return false;
      }
      if (!st.isDirectory()) return false;
      if (i === parts.length - 1 && ((st.mode & 0o7777) !== d.mode || st.uid !== d.uid || st.gid !== d.gid)) return false;
    }
  }
  return true;
}
