/**
 * In-memory mutable tree of one layer (libostree's OstreeMutableTree): names map to a content
 * checksum or to a subdirectory with its dirmeta. `write()` stores the dirmeta and dirtree
 * objects bottom-up through a Transaction and returns the root checksums.
 *
 * Implicit parents (path prefixes with no tar entry of their own in this layer) follow the OCI
 * image-spec and umoci/containers-storage, not `ostree commit --tree=tar= --tar-autocreate-parents`
 * (which stamps the entry's uid/gid on every directory of the path, the root included): a missing
 * parent is created `0:0 040755`, an existing directory is left as it is, and the layer root is
 * `0:0 040755` unless the layer has an entry for it. Every directory remembers whether it was
 * explicit; `implicitDirs()` lists the others (recorded in the layer commit, see checkout.ts).
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
  /** meta null = implicit (written as 0:0 040755). */
  constructor(public meta: DirMeta | null = null) {}
}

export type MNode = MFile | MDir;

function defaultMeta(uid: number, gid: number): DirMeta {
  return { uid, gid, mode: DEFAULT_DIR_MODE, xattrs: [] };
}

export const IMPLICIT_DIR_META: DirMeta = defaultMeta(0, 0);

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

  /** The directory that will hold `parts` (an entry path, non-empty); missing parents are created implicit. */
  parentFor(parts: string[], entryName: string): MDir {
    let node = this.root;
    for (let i = 0; i < parts.length - 1; i++) {
      let child = node.children.get(parts[i]);
      if (child === undefined) {
        child = new MDir();
        node.children.set(parts[i], child);
      } else if (child.kind !== 'dir') {
        throw throughNonDir(entryName, parts.slice(0, i + 1).join('/'), child);
      }
      node = child;
    }
    return node;
  }

  /** Paths ('.' = the root, else 'a/b') of the directories no entry of the layer gave metadata to. */
  implicitDirs(): string[] {
    const out: string[] = [];
    const walk = (d: MDir, p: string) => {
      if (d.meta === null) out.push(p === '' ? '.' : p);
      for (const [name, c] of d.children) if (c.kind === 'dir') walk(c, p === '' ? name : `${p}/${name}`);
    };
    walk(this.root, '');
    return out;
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
