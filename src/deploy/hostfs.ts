/**
 * exports/hostfs: files an image copies onto the host (§2.15), recorded with their sha256 so that
 * update/uninstall remove them only when unmodified ("Will not delete <path> as it was manually
 * modified."). Unlike atomic, files are always copied (never hardlinked into the store: a host edit
 * would corrupt the repo object), existing host paths are never replaced or followed, and empty
 * directories we created are removed again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { substitute } from '../render/python-template.js';
import { underRoot } from '../host/sysroot.js';
import { AtomicError } from '../util/errors.js';

export interface HostfsResult {
  installed: string[];
  checksums: Record<string, string>;
  rename: Record<string, string>;
  messages: string[];
}

function sha256File(p: string): string {
  return createHash('sha256').update(fs.readFileSync(p)).digest('hex');
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

export function copyHostfs(opts: {
  rootfs: string;
  sysroot: string;
  values: Record<string, string>;
  renameFiles: Record<string, string>;
  templates: string[];
  onCreate?: (hostPath: string) => void;
}): HostfsResult {
  const src = path.join(opts.rootfs, 'exports', 'hostfs');
  const res: HostfsResult = { installed: [], checksums: {}, rename: {}, messages: [] };
  for (const [k, v] of Object.entries(opts.renameFiles)) res.rename[k] = substitute(v, opts.values, 'manifest.json');
  if (!fs.existsSync(src)) return res;
  for (const rel of walk(src)) {
    const from = path.join(src, rel);
    const hostPath = renamePath(`/${rel}`, res.rename);
    if (hostPath.split('/').includes('..') || !hostPath.startsWith('/')) {
      throw new AtomicError('UNSAFE_PATH', `hostfs entry ${rel} maps to the unsafe host path ${hostPath}`, { suggestions: ['Fix renameFiles in the image\'s manifest.json.'] });
    }
    const to = underRoot(opts.sysroot, hostPath);
    const st = fs.lstatSync(from);
    let exists = false;
    try {
      fs.lstatSync(to);
      exists = true;
    } catch {
      exists = false;
    }
    if (st.isDirectory()) {
      const empty = fs.readdirSync(from).length === 0;
      if (!exists) {
        opts.onCreate?.(hostPath);
        fs.mkdirSync(to, { recursive: true, mode: st.mode & 0o7777 });
        res.installed.push(hostPath);
        res.checksums[hostPath] = '0';
      } else if (empty) continue;
      continue;
    }
    if (exists) {
      if (st.isFile()) res.messages.push(`File ${hostPath} already exists`);
      continue;
    }
    fs.mkdirSync(path.dirname(to), { recursive: true });
    opts.onCreate?.(hostPath);
    if (st.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(from), to);
      res.checksums[hostPath] = '0';
    } else if (st.isFile()) {
      if (opts.templates.includes(hostPath) || opts.templates.includes(`/${rel}`)) {
        fs.writeFileSync(to, substitute(fs.readFileSync(from, 'utf8'), opts.values, `/exports/hostfs/${rel}`), { mode: st.mode & 0o7777 });
      } else {
        fs.copyFileSync(from, to);
      }
      fs.chmodSync(to, st.mode & 0o7777);
      res.checksums[hostPath] = sha256File(to);
    } else {
      continue; // devices etc. never reach a checkout
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
    const p = underRoot(sysroot, hostPath);
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
    if (st.isFile() && checksums[hostPath] !== '0' && sha256File(p) !== checksums[hostPath]) {
      msgs.push(`Will not delete ${hostPath} as it was manually modified.`);
      continue;
    }
    fs.rmSync(p, { force: true });
  }
  return msgs;
}
