/**
 * Full comparison of two root filesystems (an oracle's and ours): for every path the type, mode,
 * uid:gid, size, symlink target, content sha256 and xattrs; hardlink identity (paths that share
 * an inode in the oracle must share one in ours; ours may share more, since the store dedups
 * identical files into one object). The root directory itself is compared as `/`.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';

export interface RootfsEntry {
  line: string;
  ino: number;
  nlink: number;
}

function xattrsOf(p: string): string {
  let names: string[];
  try {
    names = listAttributesSync(p);
  } catch {
    return '';
  }
  return names
    .filter((n) => n !== 'security.selinux')
    .sort()
    .map((n) => `${n}=${(getAttributeSync(p, n) ?? Buffer.alloc(0)).toString('hex')}`)
    .join(',');
}

function sha256(p: string): string {
  return createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

/** path -> description line; names are JSON-escaped (newlines, tabs). */
export function rootfsManifest(root: string): Map<string, RootfsEntry> {
  const out = new Map<string, RootfsEntry>();
  const add = (rel: string, p: string) => {
    const st = fs.lstatSync(p);
    const head = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    let line: string;
    if (st.isSymbolicLink()) line = `l ${head} -> ${JSON.stringify(fs.readlinkSync(p))}`;
    else if (st.isDirectory()) line = `d ${head} [${xattrsOf(p)}]`;
    else if (st.isFile()) line = `f ${head} ${st.size} ${sha256(p)} [${xattrsOf(p)}]`;
    else line = `? ${head} ${st.mode.toString(8)}`;
    out.set(rel, { line, ino: st.ino, nlink: st.nlink });
    if (st.isDirectory()) {
      for (const n of fs.readdirSync(p).sort()) add(rel === '/' ? `/${n}` : `${rel}/${n}`, path.join(p, n));
    }
  };
  add('/', root);
  return out;
}

/** Differences, one line each (empty = identical). */
export function compareRootfs(oracle: Map<string, RootfsEntry>, ours: Map<string, RootfsEntry>): string[] {
  const diffs: string[] = [];
  for (const [p, o] of oracle) {
    const u = ours.get(p);
    if (u === undefined) diffs.push(`missing ${JSON.stringify(p)}: ${o.line}`);
    else if (u.line !== o.line) diffs.push(`differs ${JSON.stringify(p)}: oracle ${o.line} | ours ${u.line}`);
  }
  for (const [p, u] of ours) if (!oracle.has(p)) diffs.push(`extra ${JSON.stringify(p)}: ${u.line}`);
  // Hardlink identity.
  const groups = new Map<number, string[]>();
  for (const [p, o] of oracle) {
    if (o.line.startsWith('f') && o.nlink > 1) groups.set(o.ino, [...(groups.get(o.ino) ?? []), p]);
  }
  for (const paths of groups.values()) {
    if (paths.length < 2) continue;
    const inos = new Set(paths.map((p) => ours.get(p)?.ino));
    if (inos.size !== 1) diffs.push(`hardlinks ${JSON.stringify(paths)} share an inode in the oracle but not in ours`);
  }
  return diffs;
}
