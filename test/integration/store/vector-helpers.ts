/** Shared helpers for the store tests: the ostree vectors, tree import, listings, the ostree CLI. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listAttributesSync, getAttributeSync } from '@napi-rs/xattr';
import { makeTempDir, VECTORS_DIR } from '../../helpers/fixtures.js';
import type { OstreeRepo } from '../../../src/store/repo.js';
import type { Transaction } from '../../../src/store/transaction.js';
import type { Checksum, FileMeta, Xattr } from '../../../src/store/types.js';

export interface VecObject { type: string; hex?: string | null; [k: string]: unknown }
export interface VecListingEntry { type: string; file?: string; dirtree?: string; dirmeta?: string; mode: string; uid: number; gid: number; size?: number; symlink_target?: string }
export interface VecCommit {
  hex: string; metadata: Record<string, [string, unknown]>; metadata_key_order: string[]; parent: string;
  related: unknown[]; subject: string; body: string; timestamp: number; root_dirtree: string; root_dirmeta: string;
  commitmeta?: { hex: string; value: Record<string, [string, unknown]> }; listing: Record<string, VecListingEntry>;
}
export interface VecRepo {
  config: string; refs: Record<string, string>; commits: Record<string, VecCommit>; objects: Record<string, VecObject>;
  object_files: string[]; top_level: string[]; ostree_ls: Record<string, string[]>;
}
export interface Vectors { repos: Record<string, VecRepo>; checkouts: Record<string, Record<string, CheckoutEntry>> }
export interface CheckoutEntry { mode: string; uid: number; gid: number; nlink: number; mtime_is_zero: boolean; same_inode_as: string[] }

let vectors: Vectors | undefined;
export function loadVectors(): Vectors {
  vectors ??= JSON.parse(fs.readFileSync(path.join(VECTORS_DIR, 'vectors.json'), 'utf8')) as Vectors;
  return vectors;
}

const TAR_X = ['--xattrs', "--xattrs-include=*", '--numeric-owner', '-xpf'];

/** Extract repos-bare.tar into a fresh temp dir (repo-bare, repo-bare-user, repo-bare-user-only). */
export function extractBareRepos(): string {
  const dir = makeTempDir('atomic-vec-repos-');
  execFileSync('tar', [...TAR_X, path.join(VECTORS_DIR, 'repos-bare.tar'), '-C', dir]);
  return dir;
}

/** Extract input-tree.tar into a fresh temp dir and return the tree root. */
export function extractInputTree(): string {
  const dir = makeTempDir('atomic-vec-tree-');
  execFileSync('tar', [...TAR_X, path.join(VECTORS_DIR, 'input-tree.tar'), '-C', dir]);
  return dir;
}

export function xattrsOf(p: string): Xattr[] {
  return listAttributesSync(p).sort().map((name) => ({ name, value: getAttributeSync(p, name)! }));
}

export function metaOf(p: string, st: fs.Stats, owner?: { uid: number; gid: number }): FileMeta {
  return {
    uid: owner?.uid ?? st.uid, gid: owner?.gid ?? st.gid, mode: st.mode,
    symlinkTarget: st.isSymbolicLink() ? fs.readlinkSync(p) : '', xattrs: xattrsOf(p),
  };
}

/** Import a real directory tree into `tx` (like `ostree commit --tree=dir=`); returns the root tree+meta. */
export async function importDir(tx: Transaction, dir: string, owner?: { uid: number; gid: number }, extraFiles: Record<string, string> = {}): Promise<{ tree: Checksum; meta: Checksum }> {
  const files: Array<{ name: string; checksum: Checksum }> = [];
  const dirs: Array<{ name: string; tree: Checksum; meta: Checksum }> = [];
  const entries = new Map<string, string>(fs.readdirSync(dir).map((n) => [n, path.join(dir, n)]));
  for (const [n, p] of Object.entries(extraFiles)) entries.set(n, p);
  for (const [name, p] of entries) {
    const st = fs.lstatSync(p);
    const meta = metaOf(p, st, owner);
    if (st.isDirectory()) {
      dirs.push({ name, ...(await importDir(tx, p, owner)) });
    } else if (st.isSymbolicLink()) {
      files.push({ name, checksum: await tx.writeSymlink(meta) });
    } else {
      files.push({ name, checksum: await tx.writeRegularFile(meta, fs.createReadStream(p), st.size) });
    }
  }
  const dst = fs.lstatSync(dir);
  const meta = await tx.writeDirMeta({ uid: owner?.uid ?? dst.uid, gid: owner?.gid ?? dst.gid, mode: dst.mode, xattrs: xattrsOf(dir) });
  const tree = await tx.writeDirTree({ files, dirs });
  return { tree, meta };
}

/** The per-path listing of a commit, in the shape dump-vectors.py records. */
export async function listingOf(repo: OstreeRepo, commit: Checksum): Promise<Record<string, VecListingEntry>> {
  const c = await repo.readCommit(commit);
  const out: Record<string, VecListingEntry> = {};
  const walk = async (tree: Checksum, metaSum: Checksum, prefix: string): Promise<void> => {
    const dm = await repo.readDirMeta(metaSum);
    const t = await repo.readDirTree(tree);
    out[prefix || '/'] = { type: 'dir', dirtree: tree, dirmeta: metaSum, mode: '0o' + dm.mode.toString(8), uid: dm.uid, gid: dm.gid };
    for (const f of t.files) {
      const fo = await repo.readFileMeta(f.checksum);
      out[`${prefix}/${f.name}`] = {
        type: fo.meta.symlinkTarget ? 'symlink' : 'file', file: f.checksum, mode: '0o' + fo.meta.mode.toString(8),
        uid: fo.meta.uid, gid: fo.meta.gid, size: fo.size, symlink_target: fo.meta.symlinkTarget,
      };
    }
    for (const d of t.dirs) await walk(d.tree, d.meta, `${prefix}/${d.name}`);
  };
  await walk(c.rootTree, c.rootMeta, '');
  return out;
}

export function ostree(args: string[]): string {
  return execFileSync('ostree', args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Like dump-vectors.py checkout_info: per path mode/uid/gid/nlink/mtime_is_zero/same_inode_as. */
export function checkoutInfo(root: string): Record<string, CheckoutEntry> {
  const res: Record<string, CheckoutEntry & { ino: number }> = {};
  const walk = (d: string) => {
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      res['/' + path.relative(root, p)] = { mode: '0o' + st.mode.toString(8), uid: st.uid, gid: st.gid, nlink: st.nlink, ino: st.ino, mtime_is_zero: Math.trunc(st.mtimeMs / 1000) === 0, same_inode_as: [] };
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  const groups = new Map<number, string[]>();
  for (const [k, v] of Object.entries(res)) groups.set(v.ino, [...(groups.get(v.ino) ?? []), k]);
  const out: Record<string, CheckoutEntry> = {};
  for (const [k, v] of Object.entries(res)) {
    const { ino, ...rest } = v;
    out[k] = { ...rest, same_inode_as: groups.get(ino)!.filter((x) => x !== k).sort() };
  }
  return out;
}
