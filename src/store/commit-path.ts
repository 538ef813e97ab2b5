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

/** Read a regular-file content object into memory (null for a symlink), refusing more than `limit` bytes. */
export async function readContentObject(repo: OstreeRepo, checksum: Checksum, limit: number, what: string): Promise<Buffer | null> {
  const direct = readDirect(repo, checksum, limit);
  if (direct !== undefined) return direct;
  const fo = await repo.readFileStat(checksum);
  if ((fo.mode & 0o170000) !== 0o100000) return null;
  if (fo.size > limit) throw new AtomicError('IMAGE_TOO_LARGE', `${what} is ${fo.size} bytes, above the ${limit}-byte limit`);
  const chunks: Buffer[] = [];
  for await (const ch of (await repo.openFileContent(checksum)) as AsyncIterable<Buffer>) chunks.push(Buffer.from(ch));
  return Buffer.concat(chunks);
}

/**
 * The object read without a stream (OstreeRepo.readFileContentAtMostSync) when that gives the
 * answer: the content (at most LIMIT bytes) or null (not a regular file). Undefined - the caller
 * takes its stream path, with its own checks and messages - in an archive store, over LIMIT, or
 * on any error.
 */
export function readDirect(repo: OstreeRepo, checksum: Checksum, limit: number): Buffer | null | undefined {
  try {
    const b = repo.readFileContentAtMostSync(checksum, limit);
    return b !== null && b !== undefined && b.length > limit ? undefined : b;
  } catch {
    return undefined;
  }
}
