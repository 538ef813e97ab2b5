/**
 * The store and deployment invariants, checked after every CLI step of the integration suites
 * (test/helpers/cli.ts), as umoci's `image-verify` does after each command of its bats tests:
 *
 * store (REPO):
 *  - every ref names a commit object that exists, and everything the commit reaches (root
 *    dirtree/dirmeta, every sub-dirtree, dirmeta and content object) exists: lstat only, no
 *    re-hashing (the suites judge content with the real `ostree fsck` where it matters);
 *  - an image ref's layers and config (from `docker.manifest`) have their `ociimage/<hex>` refs;
 *  - no staging directory of a transaction is left in REPO/tmp;
 * deployments (CK):
 *  - every `NAME` link points at `NAME.0` or `NAME.1`, a complete slot (info, config.json, rootfs);
 *  - no staging slot is left in CK/.atomic/staging;
 *  - a journal (CK/.atomic/journal/NAME.json) is consistent (JSON naming NAME, a known op and
 *    phase) and only a crashed step may leave one behind.
 *
 * A step may start from a state a test broke on purpose (a dangling ref, a removed object, a
 * journal a crash left): only problems that the step itself added are reported. A step killed by
 * a signal (crash injection) may leave staging directories and a journal; every other invariant
 * still holds after a crash.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeCommit, decodeDirTree } from '../../src/store/object-codec.js';

function lexists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function listDir(p: string): fs.Dirent[] {
  try {
    return fs.readdirSync(p, { withFileTypes: true });
  } catch {
    return [];
  }
}

function objectPath(repo: string, checksum: string, ext: string): string {
  return path.join(repo, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.${ext}`);
}

function repoMode(repo: string): string | null {
  try {
    return /^\s*mode\s*=\s*(\S+)/m.exec(fs.readFileSync(path.join(repo, 'config'), 'utf8'))?.[1] ?? 'bare';
  } catch {
    return null;
  }
}

/** All refs below REPO/refs/heads: [ref name, commit checksum]. */
function readRefs(repo: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (dir: string, prefix: string): void => {
    for (const e of listDir(dir)) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p, `${prefix}${e.name}/`);
      else if (e.isFile()) out.push([prefix + e.name, fs.readFileSync(p, 'utf8').trim()]);
    }
  };
  walk(path.join(repo, 'refs', 'heads'), '');
  return out.sort(([a], [b]) => (a < b ? -1 : 1));
}

function metaString(meta: ReturnType<typeof decodeCommit>['metadata'], key: string): string | undefined {
  for (const [k, v] of meta) if (k === key && v.type === 's' && typeof v.value === 'string') return v.value;
  return undefined;
}

export function storeProblems(repo: string, o: { crashed?: boolean } = {}): string[] {
  const mode = repoMode(repo);
  if (mode === null) return [];
  const fileExt = mode === 'archive' || mode === 'archive-z2' ? 'filez' : 'file';
  const problems: string[] = [];
  const seenTrees = new Set<string>();
  const seenObjects = new Set<string>();
  const need = (checksum: string, ext: string, why: string): boolean => {
    const key = `${checksum}.${ext}`;
    if (seenObjects.has(key)) return true;
    if (!lexists(objectPath(repo, checksum, ext))) {
      problems.push(`${why}: object ${key} is missing`);
      return false;
    }
    seenObjects.add(key);
    return true;
  };
  const walkTree = (tree: string, where: string): void => {
    if (seenTrees.has(tree)) return;
    seenTrees.add(tree);
    if (!need(tree, 'dirtree', where)) return;
    let t;
    try {
      t = decodeDirTree(fs.readFileSync(objectPath(repo, tree, 'dirtree')));
    } catch (e) {
      problems.push(`${where}: dirtree ${tree} cannot be read (${(e as Error).message})`);
      return;
    }
    for (const f of t.files) need(f.checksum, fileExt, `${where}/${f.name}`);
    for (const d of t.dirs) {
      need(d.meta, 'dirmeta', `${where}/${d.name}`);
      walkTree(d.tree, `${where}/${d.name}`);
    }
  };
  const refs = readRefs(repo);
  const refNames = new Set(refs.map(([r]) => r));
  for (const [ref, commit] of refs) {
    if (!/^[0-9a-f]{64}$/.test(commit)) {
      problems.push(`ref ${ref} holds "${commit}", not a checksum`);
      continue;
    }
    if (!need(commit, 'commit', `ref ${ref}`)) continue;
    let c;
    try {
      c = decodeCommit(fs.readFileSync(objectPath(repo, commit, 'commit')));
    } catch (e) {
      problems.push(`ref ${ref}: commit ${commit} cannot be read (${(e as Error).message})`);
      continue;
    }
    need(c.rootMeta, 'dirmeta', `ref ${ref} (root)`);
    walkTree(c.rootTree, `ref ${ref}:`);
    const tail = ref.startsWith('ociimage/') ? ref.slice('ociimage/'.length) : null;
    const raw = tail !== null && !/^[0-9a-fA-F]+$/.test(tail) ? metaString(c.metadata, 'docker.manifest') : undefined;
    if (raw === undefined) continue;
    let m: { config?: { digest?: unknown }; layers?: Array<{ digest?: unknown }> };
    try {
      m = JSON.parse(raw) as typeof m;
    } catch {
      continue; // not ours to judge: legacy manifests are read leniently
    }
    const blobs = [...(Array.isArray(m.layers) ? m.layers.map((l) => l.digest) : []), m.config?.digest];
    for (const d of blobs) {
      const hex = typeof d === 'string' ? /^sha256:([0-9a-f]{64})$/.exec(d)?.[1] : undefined;
      if (hex && !refNames.has(`ociimage/${hex}`)) problems.push(`image ref ${ref}: blob ${d as string} has no ref ociimage/${hex}`);
    }
  }
  if (!o.crashed)
    for (const e of listDir(path.join(repo, 'tmp'))) if (e.name.startsWith('staging-')) problems.push(`transaction staging left behind: ${path.join(repo, 'tmp', e.name)}`);
  return problems;
}

const OPS = new Set(['install', 'update', 'rollback', 'uninstall']);
const PHASES = new Set(['prepare', 'host', 'switched']);

export function deploymentProblems(checkoutRoot: string, o: { crashed?: boolean } = {}): string[] {
  const problems: string[] = [];
  for (const e of listDir(checkoutRoot)) {
    if (!e.isSymbolicLink() || e.name.startsWith('.')) continue;
    const link = path.join(checkoutRoot, e.name);
    const base = path.basename(fs.readlinkSync(link));
    if (base !== `${e.name}.0` && base !== `${e.name}.1`) {
      problems.push(`link ${link} points at ${base}, not a slot of ${e.name}`);
      continue;
    }
    const slot = path.join(checkoutRoot, base);
    for (const f of ['info', 'config.json', 'rootfs']) if (!lexists(path.join(slot, f))) problems.push(`link ${link}: slot ${slot} is incomplete (${f} missing)`);
  }
  const state = path.join(checkoutRoot, '.atomic');
  if (!o.crashed) for (const e of listDir(path.join(state, 'staging'))) problems.push(`staging slot left behind: ${path.join(state, 'staging', e.name)}`);
  for (const e of listDir(path.join(state, 'journal'))) {
    const file = path.join(state, 'journal', e.name);
    if (!e.name.endsWith('.json')) continue;
    let j: { op?: unknown; name?: unknown; phase?: unknown } | null;
    try {
      j = JSON.parse(fs.readFileSync(file, 'utf8')) as { op?: unknown; name?: unknown; phase?: unknown } | null;
    } catch {
      j = null;
    }
    const name = e.name.slice(0, -'.json'.length);
    if (!j || j.name !== name || !OPS.has(String(j.op)) || !PHASES.has(String(j.phase))) problems.push(`journal ${file} is not a consistent journal of ${name}`);
    else if (!o.crashed) problems.push(`journal ${file} left behind (op ${String(j.op)}, phase ${String(j.phase)}) by a step that was not killed`);
  }
  return problems;
}

export interface InvariantTarget {
  repo: string;
  checkoutRoot: string;
}

/** The problems of a store and its deployments (see the module comment). */
export function invariantProblems(t: InvariantTarget, o: { crashed?: boolean } = {}): string[] {
  return [...storeProblems(t.repo, o), ...deploymentProblems(t.checkoutRoot, o)];
}

/**
 * Run `step` (one CLI invocation) and throw when it added a problem to the store or the
 * deployments. `crashed` tells from the step's result whether it was killed.
 */
export function withInvariants<R>(t: InvariantTarget, step: () => R, crashed: (r: R) => boolean, what: string): R {
  // a problem present before the step is the test's doing (or an earlier crash's)
  const before = new Set(invariantProblems(t));
  const r = step();
  const added = invariantProblems(t, { crashed: crashed(r) }).filter((p) => !before.has(p));
  if (added.length > 0) throw new Error(`invariant check after \`atomic ${what}\`:\n  ${added.join('\n  ')}`);
  return r;
}
