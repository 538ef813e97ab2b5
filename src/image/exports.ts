/**
 * The `/exports` tree of an image as the union of its layers (upper layers win, `.wh.NAME`
 * removes a lower entry, `.wh..wh..opq` clears the directory), read straight from the store
 * without a checkout. Used by `images info` (template variables), label handling and install
 * (which renders from these bytes, never from the checkout).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { OstreeRepo } from '../store/repo.js';
import { AtomicError } from '../util/errors.js';
import type { Checksum } from '../store/types.js';
import { lookupPath, readContentObject } from '../store/commit-path.js';
import { identifiers } from '../render/python-template.js';
import { OPAQUE as OPQ, WH } from '../store/whiteout.js';

/** Map of path relative to /exports → content checksum, after whiteouts. */
export async function exportsFiles(repo: OstreeRepo, layers: Checksum[]): Promise<Map<string, { checksum: Checksum; layer: Checksum }>> {
  const files = new Map<string, { checksum: Checksum; layer: Checksum }>();
  for (const layer of layers) {
    const root = await lookupPath(repo, layer, '/');
    if (root?.kind === 'dir') {
      const t = await repo.readDirTree(root.tree);
      if (t.files.some((f) => f.name === WH + 'exports')) files.clear();
    }
    const node = await lookupPath(repo, layer, '/exports');
    if (!node) continue;
    if (node.kind !== 'dir') {
      files.clear();
      continue;
    }
    await walk(repo, node.tree, '', layer, files);
  }
  return files;
}

async function walk(repo: OstreeRepo, tree: Checksum, prefix: string, layer: Checksum, files: Map<string, { checksum: Checksum; layer: Checksum }>): Promise<void> {
  const t = await repo.readDirTree(tree);
  if (t.files.some((f) => f.name === OPQ)) {
    for (const k of [...files.keys()]) if (k.startsWith(prefix)) files.delete(k);
  }
  for (const f of t.files) {
    if (f.name === OPQ) continue;
    if (f.name.startsWith(WH)) {
      const victim = prefix + f.name.slice(WH.length);
      files.delete(victim);
      for (const k of [...files.keys()]) if (k.startsWith(victim + '/')) files.delete(k);
      continue;
    }
    files.set(prefix + f.name, { checksum: f.checksum, layer });
  }
  for (const d of t.dirs) await walk(repo, d.tree, `${prefix}${d.name}/`, layer, files);
}

/** Read one file of the /exports union (bounded); null if absent. */
export async function readExportsFile(repo: OstreeRepo, files: Map<string, { checksum: Checksum; layer: Checksum }>, rel: string): Promise<Buffer | null> {
  const e = files.get(rel);
  if (!e) return null;
  return readContentObject(repo, e.checksum, 4 << 20, `/exports/${rel}`);
}

/** Variables forced by atomic (never shown by `images info`, never overridable). */
export const FORCED_VARIABLES = ['DESTDIR', 'NAME', 'EXEC_START', 'EXEC_STOP', 'EXEC_STARTPRE', 'EXEC_STOPPOST', 'HOST_UID', 'HOST_GID', 'IMAGE_NAME', 'IMAGE_ID'];
/** Variables the OS provides a default for, as listed by `images info` (§1.8). */
export const OS_SET_VARIABLES = ['RUN_DIRECTORY', 'STATE_DIRECTORY', 'CONF_DIRECTORY', 'UUID', 'PIDFILE', 'ALL_PROCESS_CAPABILITIES'];

export interface TemplateVariables {
  withDefault: Record<string, string>;
  withoutDefault: string[];
}

/** Template variables of an image: every `*.template` under /exports, minus the forced ones (§1.8). */
export async function templateVariables(repo: OstreeRepo, layers: Checksum[]): Promise<TemplateVariables | null> {
  const files = await exportsFiles(repo, layers);
  const templates = [...files.keys()].filter((k) => k.endsWith('.template')).sort();
  if (templates.length === 0) return null;
  const used = new Set<string>();
  for (const t of templates) {
    const buf = await readExportsFile(repo, files, t);
    if (buf) for (const id of identifiers(buf.toString('utf8'))) used.add(id);
  }
  let defaults: Record<string, unknown> = {};
  const mf = await readExportsFile(repo, files, 'manifest.json');
  if (mf) {
    try {
      const m = JSON.parse(mf.toString('utf8')) as { defaultValues?: Record<string, unknown> };
      defaults = m.defaultValues ?? {};
    } catch {
      /* an invalid manifest is reported by install; info still lists the variables */
    }
  }
  const withDefault: Record<string, string> = {};
  const withoutDefault: string[] = [];
  for (const v of [...used].sort()) {
    if (FORCED_VARIABLES.includes(v) || v === 'RUNTIME' || v === 'ATOMIC') continue;
    if (Object.prototype.hasOwnProperty.call(defaults, v)) withDefault[v] = String(defaults[v]);
    else if (OS_SET_VARIABLES.includes(v)) withDefault[v] = '{SET_BY_OS}';
    else withoutDefault.push(v);
  }
  return { withDefault, withoutDefault };
}

/** Reads the /exports files install renders from (manifest.json, templates, config.json). */
export interface ExportsReader {
  /** /exports exists (as a directory). */
  present: boolean;
  /** The file's bytes, null when absent; a symlink is refused. */
  read(rel: string): Promise<Buffer | null>;
}

const EXPORTS_LIMIT = 4 << 20;

function symlinkRefused(rel: string): AtomicError {
  return new AtomicError(
    'UNSAFE_PATH',
    `${rel} in the image is a symbolic link; atomic does not read /exports files through links (it could copy a host file into the unit or config)`,
    {
      suggestions: ['Fix the image: put the file itself in /exports.'],
    },
  );
}

/** What `/exports` is in the union of the layers (top layer first). */
async function exportsRootKind(repo: OstreeRepo, layers: Checksum[]): Promise<'dir' | 'symlink' | 'file' | 'absent'> {
  for (let i = layers.length - 1; i >= 0; i--) {
    const root = await lookupPath(repo, layers[i]!, '/');
    if (root?.kind !== 'dir') continue;
    const t = await repo.readDirTree(root.tree);
    if (t.dirs.some((d) => d.name === 'exports')) return 'dir';
    const f = t.files.find((x) => x.name === 'exports');
    if (f) return ((await repo.readFileStat(f.checksum)).mode & 0o170000) === 0o120000 ? 'symlink' : 'file';
    if (t.files.some((x) => x.name === WH + 'exports' || x.name === OPQ)) return 'absent';
  }
  return 'absent';
}

/**
 * /exports of an image read from the store objects (never through a checkout, whose files a
 * symlink could redirect to the host): an /exports that is a symlink, or a symlinked file in it,
 * is refused.
 */
export async function storeExportsReader(repo: OstreeRepo, layers: Checksum[]): Promise<ExportsReader> {
  const kind = await exportsRootKind(repo, layers);
  if (kind === 'symlink') throw symlinkRefused('/exports');
  if (kind !== 'dir') return { present: false, read: async () => null };
  const files = await exportsFiles(repo, layers);
  return {
    present: true,
    read: async (rel) => {
      const e = files.get(rel);
      if (!e) return null;
      const fo = await repo.readFileStat(e.checksum);
      if ((fo.mode & 0o170000) === 0o120000) throw symlinkRefused(`/exports/${rel}`);
      if ((fo.mode & 0o170000) !== 0o100000) return null;
      return readContentObject(repo, e.checksum, EXPORTS_LIMIT, `/exports/${rel}`);
    },
  };
}

/** /exports of an exploded rootfs (--rootfs): lstat and O_NOFOLLOW, symlinks refused the same way. */
export function rootfsExportsReader(rootfs: string): ExportsReader {
  const dir = path.join(rootfs, 'exports');
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(dir);
  } catch {
    st = null;
  }
  if (st?.isSymbolicLink()) throw symlinkRefused('/exports');
  if (!st?.isDirectory()) return { present: false, read: async () => null };
  return {
    present: true,
    read: async (rel) => {
      const p = path.join(dir, rel);
      let fst: fs.Stats;
      try {
        fst = fs.lstatSync(p);
      } catch {
        return null;
      }
      if (fst.isSymbolicLink()) throw symlinkRefused(`/exports/${rel}`);
      if (!fst.isFile()) return null;
      if (fst.size > EXPORTS_LIMIT) throw new AtomicError('IMAGE_TOO_LARGE', `/exports/${rel} is ${fst.size} bytes, above the ${EXPORTS_LIMIT}-byte limit`);
      const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        return fs.readFileSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}
