/**
 * One part of a checkout's materialization (checkout.ts splits the union tree into parts of
 * whole subtrees, or of the files of one directory, whose parent directories exist already):
 * create its directories (parents first), then hardlink its files to their objects and create
 * its symlinks. A part runs on the checking-out thread or on a store I/O worker (write-worker.ts),
 * whichever claims it first; so only `node:` modules here.
 *
 * With `check`, each object is lstat'ed first (once per part) and NOT linked - its index is
 * reported instead - when:
 * - `markers` is given and the object's verified-object signature (object-verify.ts) is not the
 *   one its marker records, or the object is missing: the checking-out thread verifies (hashes)
 *   it first, so nothing unverified is ever linked. Each thread reads the marker file once per
 *   checkout (`markers.key`): the workers as soon as the checkout starts (preloadMarkers, while
 *   the checking-out thread still reads the dirtrees), the checking-out thread only when it runs
 *   a part itself;
 * - it is a regular file writable by group or others: it is checked out as a copy (see
 *   checkout.ts, groupOtherWritable).
 * A link that fails with EMLINK is reported too (link-or-copy.ts makes a copy on the checking-out
 * thread: that needs the xattr addon, which workers do not load).
 */
import * as fs from 'node:fs';
import { MarkerIndex, signature } from './verified-markers.js';

export interface PartJob {
  t: 'part';
  id: number;
  /**
   * Claim flags of the checkout's parts, shared by its threads: a part runs where
   * Atomics.compareExchange(claims, index, 0, 1) succeeds first; a part claimed elsewhere (or
   * cancelled after a failure) is not run.
   */
  claims: Int32Array;
  index: number;
  /** The directories the part's entries go into (its own and existing ones). */
  parents: string[];
  /** Indexes into `parents` of the directories to create, parents first, and their creation modes. */
  dirs: number[];
  modes: number[];
  /** `objects/` of the repository, with a trailing slash. */
  objects: string;
  /** Per link: the object's checksum, the parent (index into `parents`) and name of the destination. */
  sums: string[];
  linkParents: number[];
  linkNames: string[];
  /** lstat each object before linking it (see the module comment). */
  check: boolean;
  /** with `check`: the checkout's marker file (see the module comment); null: no verification. */
  markers: PartMarkers | null;
  /** Per symlink to create: target, parent (index into `parents`), name. */
  symlinkTargets: string[];
  symlinkParents: number[];
  symlinkNames: string[];
}

export interface PartReply {
  id: number;
  /** false: claimed by another thread (or cancelled): nothing was done. */
  ran: boolean;
  /** Link indexes not linked: no or a stale marker, or the object is missing. */
  deferred: number[];
  /** Link indexes not linked: regular file writable by group or others. */
  writable: number[];
  /** Link indexes whose link() failed with EMLINK. */
  emlink: number[];
  /** Links made (or reported EMLINK) to regular-file objects and to symlink objects (bare, bare-user-only: symlink objects are hardlinked too). */
  files: number;
  symlinkObjects: number;
  /** Directories created, symlinks created. */
  dirs: number;
  symlinks: number;
  /** The error that stopped the part (write-worker.ts's SerializedError). */
  err?: { message: string; code?: string; syscall?: string; path?: string };
}

/** The verified-object marker file of a checkout; `key` is unique per checkout in the process. */
export interface PartMarkers {
  key: string;
  file: string;
}

/** This thread's markers: those of the checkout `key` (null: none loaded). */
let loaded: { key: string; index: MarkerIndex } | null = null;

/** The markers of checkout `m.key` as this thread read them (once per checkout; checkout.ts's dirtree and dirmeta checks use them too). */
export function markersFor(m: PartMarkers): MarkerIndex {
  if (loaded?.key !== m.key) loaded = { key: m.key, index: new MarkerIndex(m.file) };
  return loaded.index;
}

/**
 * Read the checkout's markers now (a worker, while the checking-out thread reads the dirtrees);
 * null: forget them. The workers take turns (`turn[0]` counts the reads done; worker `order`
 * waits for the ones before it, at most TURN_WAIT_MS): one worker at a time uses the core the
 * checking-out thread leaves, instead of both taking a share of that thread's.
 */
export function preloadMarkers(m: PartMarkers | null, turn?: Int32Array, order = 0): void {
  if (m === null) {
    loaded = null;
    return;
  }
  if (turn !== undefined) {
    const until = Date.now() + TURN_WAIT_MS;
    for (let seen = Atomics.load(turn, 0); seen < order; seen = Atomics.load(turn, 0)) {
      const left = until - Date.now();
      if (left <= 0 || Atomics.wait(turn, 0, seen, left) === 'timed-out') break;
    }
  }
  try {
    markersFor(m);
  } finally {
    if (turn !== undefined) {
      Atomics.add(turn, 0, 1);
      Atomics.notify(turn, 0);
    }
  }
}
const TURN_WAIT_MS = 100;

const LINK = 0;
const LINK_SYMLINK = 1;
const DEFER = 2;
const WRITABLE = 3;

function classify(st: fs.Stats | undefined, c: string, markers: MarkerIndex | null): number {
  if (st === undefined) return DEFER;
  if (markers !== null && !markers.matches(c, signature(st))) return DEFER;
  if (st.isFile() && (st.mode & 0o022) !== 0) return WRITABLE;
  return st.isSymbolicLink() ? LINK_SYMLINK : LINK;
}

export function runCheckoutPart(job: PartJob): PartReply {
  const r: PartReply = { id: job.id, ran: false, deferred: [], writable: [], emlink: [], files: 0, symlinkObjects: 0, dirs: 0, symlinks: 0 };
  if (Atomics.compareExchange(job.claims, job.index, 0, 1) !== 0) return r;
  r.ran = true;
  try {
    const { parents, sums } = job;
    const markers = job.check && job.markers !== null ? markersFor(job.markers) : null;
    for (let i = 0; i < job.dirs.length; i++) {
      fs.mkdirSync(parents[job.dirs[i]!]!, job.modes[i]);
      r.dirs++;
    }
    const seen = new Map<string, number>();
    for (let i = 0; i < sums.length; i++) {
      const c = sums[i]!;
      const from = `${job.objects}${c.slice(0, 2)}/${c.slice(2)}.file`;
      let s = LINK;
      if (job.check) {
        const known = seen.get(c);
        if (known === undefined) {
          s = classify(fs.lstatSync(from, { throwIfNoEntry: false }), c, markers);
          seen.set(c, s);
        } else s = known;
      }
      if (s === DEFER) {
        r.deferred.push(i);
        continue;
      }
      if (s === WRITABLE) {
        r.writable.push(i);
        continue;
      }
      if (s === LINK_SYMLINK) r.symlinkObjects++;
      else r.files++;
      try {
        fs.linkSync(from, `${parents[job.linkParents[i]!]}/${job.linkNames[i]}`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EMLINK') throw e;
        r.emlink.push(i);
      }
    }
    for (let i = 0; i < job.symlinkTargets.length; i++) {
      fs.symlinkSync(job.symlinkTargets[i]!, `${parents[job.symlinkParents[i]!]}/${job.symlinkNames[i]}`);
      r.symlinks++;
    }
  } catch (e) {
    const x = e as NodeJS.ErrnoException;
    r.err = { message: x instanceof Error ? x.message : String(e), code: x?.code, syscall: x?.syscall, path: x?.path };
  }
  return r;
}
