/**
 * exports/hostfs: files an image copies onto the host (§2.15), recorded with their sha256 so that
 * update/uninstall remove them only when unmodified ("Will not delete <path> as it was manually
 * modified."). Unlike atomic, files are always copied (never hardlinked into the store: a host edit
 * would corrupt the repo object), existing host paths are never replaced or followed, and empty
 * directories we created are removed again.
 *
 * Reading: `exports`, `exports/hostfs` and every entry below are looked at with lstat and files
 * are opened with O_NOFOLLOW, so a symlink in the image is copied as a symlink and never read
 * through. Writing: the host path's parent chain is resolved below the sysroot (util/safe-join),
 * missing directories are made one by one with explicit modes, files are created with
 * O_CREAT|O_EXCL|O_NOFOLLOW and their mode set explicitly (independent of the umask).
 *
 * Record values: a sha256 for a regular file (removed only when unchanged), '0' for a symlink or
 * directory we created (removed only if it still is one; directories only when empty), '*' for
 * an entry a crashed operation created (journal, already checked by journal-trust).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { substitute } from '../render/python-template.js';
import { AtomicError } from '../util/errors.js';
import { secureJoinParent, mkdirsExact } from '../util/safe-join.js';

export interface HostfsResult {
  installed: string[];
  checksums: Record<string, string>;
  rename: Record<string, string>;
  messages: string[];
}

const { O_RDONLY, O_NOFOLLOW, O_WRONLY, O_CREAT, O_EXCL } = fs.constants;

function sha256File(p: string): string {
  const fd = fs.openSync(p, O_RDONLY | O_NOFOLLOW);
  try {
    return createHash('sha256').update(fs.readFileSync(fd)).digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}

function readNoFollow(p: string): Buffer {
  const fd = fs.openSync(p, O_RDONLY | O_NOFOLLOW);
  try {
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function walk(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
    const r = rel ? `${rel}/${n}` : n;
    out.push(r);
    const st = fs.lstatSync(path.join(root, r));
    if (st.isDirectory()) out.push(...walk(root, r));
  }
  return out;
}

/** Apply renameFiles to every prefix of a host path (atomic's _rename_files semantics). */
function renamePath(hostPath: string, rename: Record<string, string>): string {
  const parts = hostPath.split('/').filter(Boolean);
  let cur = '';
  for (const part of parts) {
    cur = `${cur}/${part}`;
    if (rename[cur] !== undefined) cur = rename[cur];
  }
  return cur || '/';
}

/** `rootfs/exports/hostfs` when it is a real directory (no symlink on the way), null when absent. */
function hostfsSource(rootfs: string): string | null {
  for (const rel of ['exports', 'exports/hostfs']) {
    const p = path.join(rootfs, rel);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return null;
    }
    if (!st.isDirectory()) {
      throw new AtomicError('UNSAFE_PATH', `/${rel} in the image is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; refusing to read host files through it`, {
        suggestions: ['Fix the image: /exports and /exports/hostfs must be directories.'],
      });
    }
  }
  return path.join(rootfs, 'exports', 'hostfs');
}

function checkHostPath(rel: string, hostPath: string): void {
  if (!hostPath.startsWith('/') || hostPath.split('/').includes('..') || path.posix.normalize(hostPath) !== hostPath || hostPath.includes('\0') || hostPath === '/') {
    throw new AtomicError('UNSAFE_PATH', `hostfs entry ${rel} maps to the unsafe host path ${JSON.stringify(hostPath)}`, { suggestions: ['Fix renameFiles in the image\'s manifest.json.'] });
  }
}

/** The host paths a slot's /exports/hostfs maps to (for journal checks). */
export function plannedHostfsPaths(rootfs: string, renameFiles: Record<string, string>, values: Record<string, string>): string[] {
  let src: string | null;
  try {
    src = hostfsSource(rootfs);
  } catch {
    return [];
  }
  if (src === null) return [];
  const rename: Record<string, string> = {};
  try {
    for (const [k, v] of Object.entries(renameFiles)) rename[k] = substitute(v, values, 'manifest.json');
  } catch {
    return [];
  }
  return walk(src).map((rel) => renamePath(`/${rel}`, rename));
}

export function copyHostfs(opts: {
  rootfs: string;
  sysroot: string;
  values: Record<string, string>;
  renameFiles: Record<string, string>;
  templates: string[];
  onCreate?: (hostPath: string) => void;
}): HostfsResult {
  const res: HostfsResult = { installed: [], checksums: {}, rename: {}, messages: [] };
  for (const [k, v] of Object.entries(opts.renameFiles)) res.rename[k] = substitute(v, opts.values, 'manifest.json');
  const src = hostfsSource(opts.rootfs);
  if (src === null) return res;
  const entries = walk(src).map((rel) => ({ rel, hostPath: renamePath(`/${rel}`, res.rename) }));
  for (const e of entries) checkHostPath(e.rel, e.hostPath); // every path checked before the first write
  for (const { rel, hostPath } of entries) {
    const from = path.join(src, rel);
    const to = secureJoinParent(opts.sysroot, hostPath);
    const st = fs.lstatSync(from);
    let exists = false;
    try {
      fs.lstatSync(to);
      exists = true;
    } catch {
      exists = false;
    }
    if (st.isDirectory()) {
      if (!exists) {
        opts.onCreate?.(hostPath);
        mkdirsExact(opts.sysroot, path.dirname(to));
        mkdirsExact(opts.sysroot, to, st.mode & 0o7777);
        res.installed.push(hostPath);
        res.checksums[hostPath] = '0';
      }
      continue;
    }
    if (exists) {
      if (st.isFile()) res.messages.push(`File ${hostPath} already exists`);
      continue;
    }
    if (!st.isFile() && !st.isSymbolicLink()) continue; // devices etc. never reach a checkout
    mkdirsExact(opts.sysroot, path.dirname(to));
    opts.onCreate?.(hostPath);
    if (st.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(from), to);
      res.checksums[hostPath] = '0';
    } else {
      const raw = readNoFollow(from);
      const data = opts.templates.includes(hostPath) || opts.templates.includes(`/${rel}`) ? Buffer.from(substitute(raw.toString('utf8'), opts.values, `/exports/hostfs/${rel}`)) : raw;
      const fd = fs.openSync(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
      try {
        fs.writeFileSync(fd, data);
        fs.fchmodSync(fd, st.mode & 0o7777);
      } finally {
        fs.closeSync(fd);
      }
      res.checksums[hostPath] = createHash('sha256').update(data).digest('hex');
    }
    res.installed.push(hostPath);
    res.messages.push(`Created file ${hostPath}`);
  }
  return res;
}

/** Remove recorded host files unless modified; directories only when empty. Returns messages. */
export function removeHostfs(sysroot: string, checksums: Record<string, string>): string[] {
  const msgs: string[] = [];
  const paths = Object.keys(checksums).sort().reverse(); // children before parents
  for (const hostPath of paths) {
    if (!hostPath.startsWith('/') || hostPath.split('/').includes('..') || hostPath.includes('\0') || hostPath === '/') continue;
    const p = secureJoinParent(sysroot, hostPath);
    const want = checksums[hostPath];
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      try {
        fs.rmdirSync(p);
      } catch {
        /* not empty: keep it */
      }
      continue;
    }
    if (want !== '*') {
      const unchanged = st.isFile() ? want !== '0' && sha256File(p) === want : st.isSymbolicLink() && want === '0';
      if (!unchanged) {
        msgs.push(`Will not delete ${hostPath} as it was manually modified.`);
        continue;
      }
    }
    fs.rmSync(p, { force: true });
  }
  return msgs;
}
