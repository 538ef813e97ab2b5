/**
 * Path lookups inside a commit's tree without checking it out: used to read an image's
 * config blob (`/content`), its manifest, or the `/exports` templates of a layer.
 */
import type { OstreeRepo } from './repo.js';
import type { Checksum, DirTree } from './types.js';
import { AtomicError } from '../util/errors.js';

export type TreeNode =
  | { kind: 'dir'; tree: Checksum; meta: Checksum }
  | { kind: 'file'; checksum: Checksum };

/** Resolve an absolute path ('/exports/manifest.json') in a commit; null when absent. Symlinks are not followed. */
export async function lookupPath(repo: OstreeRepo, commit: Checksum, p: string): Promise<TreeNode | null> {
  const c = await repo.readCommit(commit);
  let node: TreeNode = { kind: 'dir', tree: c.rootTree, meta: c.rootMeta };
  for (const part of p.split('/').filter((x) => x !== '' && x !== '.')) {
    if (node.kind !== 'dir') return null;
    const t: DirTree = await repo.readDirTree(node.tree);
    const d = t.dirs.find((x) => x.name === part);
    if (d) {
      node = { kind: 'dir', tree: d.tree, meta: d.meta };
      continue;
    }
    const f = t.files.find((x) => x.name === part);
    if (!f) return null;
    node = { kind: 'file', checksum: f.checksum };
  }
  return node;
}

/** Read a regular file from a commit into memory, refusing files above `limit` bytes. */
export async function readCommitFile(repo: OstreeRepo, commit: Checksum, p: string, limit = 4 << 20): Promise<Buffer | null> {
  const node = await lookupPath(repo, commit, p);
  if (!node || node.kind !== 'file') return null;
  const fo = await repo.readFileMeta(node.checksum);
  if ((fo.meta.mode & 0o170000) !== 0o100000) return null;
  if (fo.size > limit) {
    throw new AtomicError('IMAGE_TOO_LARGE', `file "${p}" in commit ${commit.slice(0, 12)} is ${fo.size} bytes, above the ${limit}-byte limit`);
  }
  const chunks: Buffer[] = [];
  const s = await repo.openFileContent(node.checksum);
  for await (const ch of s as AsyncIterable<Buffer>) chunks.push(Buffer.from(ch));
  return Buffer.concat(chunks);
}
