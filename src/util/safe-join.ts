/**
 * Paths below a root directory (a `--sysroot`), resolved the way the target system would see them
 * and never outside the root, like Go's securejoin: each component is looked at in turn with
 * lstat; a symlink is followed with its target re-rooted at `root` (absolute targets start again
 * at `root`, `..` stops at `root`); components that do not exist yet are appended as they are.
 * Node has no openat(2), so a concurrent change of the tree between this resolution and the use
 * of the path is not excluded; the root itself must only be writable by its owner (root).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AtomicError } from './errors.js';

const MAX_HOPS = 40;

/** `p` (absolute, as seen from inside `root`) resolved below `root`; the result always starts with `root`. */
export function secureJoin(root: string, p: string): string {
  const base = path.resolve(root);
  const cur: string[] = [];
  let queue = p.split('/');
  let hops = 0;
  let missing = false;
  while (queue.length > 0) {
    const part = queue.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      cur.pop();
      continue;
    }
    if (part.includes('\0')) throw new AtomicError('UNSAFE_PATH', `the path ${JSON.stringify(p)} contains a NUL byte`);
    const candidate = path.join(base, ...cur, part);
    if (!missing) {
      let st: fs.Stats | null = null;
      try {
        st = fs.lstatSync(candidate);
      } catch {
        missing = true; // nothing below a missing component exists either
      }
      if (st?.isSymbolicLink()) {
        if (++hops > MAX_HOPS) throw new AtomicError('UNSAFE_PATH', `too many levels of symbolic links resolving ${p} below ${base}`);
        const target = fs.readlinkSync(candidate);
        if (target.startsWith('/')) cur.length = 0;
        queue = [...target.split('/'), ...queue];
        continue;
      }
    }
    cur.push(part);
  }
  return path.join(base, ...cur);
}

/** Like secureJoin, but the last component is not followed (to create, replace or remove that entry itself). */
export function secureJoinParent(root: string, p: string): string {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  const last = parts.pop();
  const dir = secureJoin(root, `/${parts.join('/')}`);
  if (last === undefined) return dir;
  if (last === '..') throw new AtomicError('UNSAFE_PATH', `the path ${JSON.stringify(p)} ends in ".."`);
  return path.join(dir, last);
}

/**
 * Create directory `dir` (an absolute path under `root`, already resolved) and its missing
 * parents, each with exactly `mode` (not masked by the umask). Refuses to go through anything that
 * is not a directory. Returns the directories created, outermost first.
 */
export function mkdirsExact(root: string, dir: string, mode = 0o755): string[] {
  const base = path.resolve(root);
  const rel = path.relative(base, dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new AtomicError('UNSAFE_PATH', `${dir} is not below ${base}`);
  const created: string[] = [];
  let cur = base;
  for (const part of rel.split('/').filter(Boolean)) {
    cur = path.join(cur, part);
    let st: fs.Stats | null = null;
    try {
      st = fs.lstatSync(cur);
    } catch {
      st = null;
    }
    if (st === null) {
      fs.mkdirSync(cur, { mode });
      fs.chmodSync(cur, mode);
      created.push(cur);
    } else if (!st.isDirectory()) {
      throw new AtomicError('UNSAFE_PATH', `${cur} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; refusing to create ${dir} through it`);
    }
  }
  return created;
}
