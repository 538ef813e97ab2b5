/**
 * In-memory mutable tree of one layer (libostree's OstreeMutableTree): names map to a content
 * checksum or to a subdirectory with its dirmeta. `write()` stores the dirmeta and dirtree
 * objects bottom-up through a Transaction and returns the root checksums.
 *
 * Implicit parents follow `ostree commit --tree=tar= --tar-autocreate-parents` (ostree 2022.7,
 * ostree-repo-libarchive.c: aic_get_parent_dir / aic_create_parent_dirs / aic_ensure_parent_dir):
 * when an entry's parent path does not fully exist, the root and EVERY directory on the path
 * (existing ones included) get dirmeta `uid:gid 040755` with the uid/gid of that entry; a later
 * directory entry for the same path replaces it. A root that no entry gave metadata to gets
 * `0:0 040755`. Verified against the real CLI (x/y/f1 5:6, p/q/f2 7:8, x/y/z/f3 9:10 gives
 * / x x/y x/y/z all 9:10, p p/q 7:8).
 */
import type { Checksum, DirMeta, DirTree } from './types.js';
import type { Transaction } from './transaction.js';
import { AtomicError } from '../util/errors.js';

export const DEFAULT_DIR_MODE = 0o040755;

export interface MFile {
  kind: 'file';
  checksum: Checksum;
  symlink: boolean;
}

export class MDir {
  readonly kind = 'dir' as const;
  readonly children = new Map<string, MNode>();
  constructor(public meta: DirMeta | null = null) {}
}

export type MNode = MFile | MDir;

function defaultMeta(uid: number, gid: number): DirMeta {
  return { uid, gid, mode: DEFAULT_DIR_MODE, xattrs: [] };
}

function metaKey(m: DirMeta): string {
  const x = [...m.xattrs].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  return `${m.uid}:${m.gid}:${m.mode}:${x.map((e) => `${Buffer.from(e.name).toString('hex')}=${e.value.toString('hex')}`).join(',')}`;
}

function throughNonDir(entry: string, prefix: string, node: MFile): AtomicError {
  if (node.symlink) {
    return new AtomicError('UNSAFE_PATH', `Refusing tar entry ${JSON.stringify(entry)}: it would be written through the symlink ${JSON.stringify(prefix)} created earlier in this layer`, {
      suggestions: ['The layer is malformed or hostile; do not use this image.'],
      ref: entry,
    });
  }
  return new AtomicError('LAYER_INVALID', `Refusing tar entry ${JSON.stringify(entry)}: its parent ${JSON.stringify(prefix)} is a regular file in this layer`, {
    suggestions: ['The layer is malformed; rebuild the image with a standard tool.'],
    ref: entry,
  });
}

export class MutableTree {
  readonly root = new MDir();

  /** The directory that will hold `parts` (an entry path, non-empty), creating parents like ostree does. */
  parentFor(parts: string[], uid: number, gid: number, entryName: string): MDir {
    let node = this.root;
    let complete = true;
    for (let i = 0; i < parts.length - 1; i++) {
      const child = node.children.get(parts[i]);
      if (child === undefined) {
        complete = false;
        break;
      }
      if (child.kind !== 'dir') throw throughNonDir(entryName, parts.slice(0, i + 1).join('/'), child);
      node = child;
    }
    if (complete) return node;
    node = this.root;
    node.meta = defaultMeta(uid, gid);
    for (let i = 0; i < parts.length - 1; i++) {
      let child = node.children.get(parts[i]);
      if (child === undefined) {
        child = new MDir();
        node.children.set(parts[i], child);
      } else if (child.kind !== 'dir') {
        throw throughNonDir(entryName, parts.slice(0, i + 1).join('/'), child);
      }
      child.meta = defaultMeta(uid, gid);
      node = child;
    }
    return node;
  }

  /** The node at `parts` ([] = root), or undefined. Does not follow symlinks. */
  lookup(parts: string[]): MNode | undefined {
    let node: MNode = this.root;
    for (const p of parts) {
      if (node.kind !== 'dir') return undefined;
      const next: MNode | undefined = node.children.get(p);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  /** Put a file (replacing whatever had the name, a directory included: tar semantics). */
  setFile(parent: MDir, name: string, file: MFile): void {
    parent.children.set(name, file);
  }

  /** Create or update a directory; an existing directory keeps its children. */
  setDir(parent: MDir | null, name: string, meta: DirMeta): MDir {
    if (parent === null) {
      this.root.meta = meta;
      return this.root;
    }
    const existing = parent.children.get(name);
    if (existing !== undefined && existing.kind === 'dir') {
      existing.meta = meta;
      return existing;
    }
    const d = new MDir(meta);
    parent.children.set(name, d);
    return d;
  }

  /** Write all dirmeta/dirtree objects (bottom-up, sequentially) and return the root's. */
  async write(tx: Transaction): Promise<{ rootTree: Checksum; rootMeta: Checksum }> {
    const metaCache = new Map<string, Checksum>();
    const writeMeta = async (m: DirMeta): Promise<Checksum> => {
      const k = metaKey(m);
      let c = metaCache.get(k);
      if (c === undefined) {
        c = await tx.writeDirMeta(m);
        metaCache.set(k, c);
      }
      return c;
    };
    const treeCache = new Map<string, Checksum>();
    const writeTree = async (d: MDir): Promise<Checksum> => {
      const t: DirTree = { files: [], dirs: [] };
      for (const [name, child] of d.children) {
        if (child.kind === 'file') t.files.push({ name, checksum: child.checksum });
        else t.dirs.push({ name, tree: await writeTree(child), meta: await writeMeta(child.meta ?? defaultMeta(0, 0)) });
      }
      if (t.files.length === 0 && t.dirs.length === 0) {
        let c = treeCache.get('');
        if (c === undefined) {
          c = await tx.writeDirTree(t);
          treeCache.set('', c);
        }
        return c;
      }
      return tx.writeDirTree(t);
    };
    const rootTree = await writeTree(this.root);
    const rootMeta = await writeMeta(this.root.meta ?? defaultMeta(0, 0));
    return { rootTree, rootMeta };
  }
}
