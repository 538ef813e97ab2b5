/**
 * `atomic images update IMAGE | --all`: pull a stored image again from its registry and say
 * whether it changed. A current image costs one manifest request and no blob download (layers and
 * config already in the store are skipped). `--all` re-pulls every named image whose name is fully
 * qualified (has a registry host) and skips the others, as atomic did, with
 * "Image NAME not fully qualified: skipping" on stderr; each one gets a `Checking image NAME...`
 * line, a failed pull does not stop the others, and the SUMMARY rows go to `onSummary`.
 */
import type { AppContext } from '../context.js';
import { pullImage, type PullEvents, type PullResult } from './pull.js';
import { listImages, warnBrokenImage } from '../../image/stored-image.js';
import { META, REF_PREFIX, imageRef, metaString, readImage, resolveImageRef } from '../../image/stored-image.js';
import { parseImageName, tryDecodeRefName } from '../../image/name.js';
import { AtomicError, isAtomicError } from '../../util/errors.js';
import type { OstreeRepo } from '../../store/repo.js';
import type { Platform } from '../../image/source.js';
import type { RegistrySourceOptions } from '../../image/registry/source.js';
import type { TrustSettings } from '../../image/trust/policy.js';

/** One row of the SUMMARY printed after `images update --all` (atomic's statuses). */
export interface ImagesUpdateAllRow {
  name: string;
  before: string;
  after: string;
  status: 'Could not pull' | 'Updated now' | 'Updated';
  error?: string;
}

export interface ImagesUpdateOptions extends PullEvents {
  all?: boolean;
  /** --all: receives the SUMMARY rows (failures are collected there, not thrown, as atomic did). */
  onSummary?(rows: ImagesUpdateAllRow[]): void;
  registry?: RegistrySourceOptions;
  platform?: Partial<Platform>;
  trust?: TrustSettings;
}

export interface ImageUpdateResult {
  name: string;
  changed: boolean;
  /** Manifest digest before (null: the image was not in the store) and after. */
  before: string | null;
  after: string;
  pull: PullResult;
}

const TRANSPORT_PREFIX = /^(docker:\/\/|oci:|https?:)/;

async function currentDigest(repo: OstreeRepo, ref: string): Promise<string | null> {
  const c = await repo.resolveRef(ref);
  if (!c) return null;
  return metaString((await repo.readCommit(c)).metadata, META.digest) ?? c;
}

async function updateOne(ctx: AppContext, repo: OstreeRepo, src: string, storedName: string, opts: ImagesUpdateOptions): Promise<ImageUpdateResult> {
  const before = await currentDigest(repo, imageRef(storedName));
  // Keep the platform the image was pulled for (e.g. an arm64 image from a multi-arch index).
  let platform = opts.platform;
  if (!platform && before !== null) {
    const cfg = await readImage(repo, storedName).then((i) => i.config).catch(() => null);
    if (cfg && typeof cfg.os === 'string' && typeof cfg.architecture === 'string') {
      platform = { os: cfg.os, architecture: cfg.architecture };
      if (typeof cfg.variant === 'string') platform.variant = cfg.variant;
    }
  }
  const pull = await pullImage(repo, src, { name: storedName, registry: opts.registry, platform, trust: opts.trust, onLine: opts.onLine, onWarning: opts.onWarning, onProgress: opts.onProgress });
  const after = pull.manifestDigest;
  const changed = before !== after;
  ctx.out.line(changed ? (before === null ? `Image ${pull.imageName} pulled (${after})` : `Image ${pull.imageName} updated: ${before} -> ${after}`) : `Image ${pull.imageName} is already up to date (${after})`);
  return { name: pull.imageName, changed, before, after, pull };
}

export async function imagesUpdate(ctx: AppContext, image: string | undefined, opts: ImagesUpdateOptions = {}): Promise<ImageUpdateResult[]> {
  if (opts.all && image !== undefined) throw new AtomicError('USAGE', 'Give either an image or --all, not both');
  if (!opts.all && image === undefined) throw new AtomicError('USAGE', 'Give the image to update, or --all', { suggestions: ['atomic images update registry.example.com/app:1.0', 'atomic images update --all'] });
  const repo = await ctx.repo();
  if (!opts.all) {
    const img = image!;
    if (TRANSPORT_PREFIX.test(img)) {
      // An explicit source: stored under its derived name (like pull).
      const name = parseImageName(img).full;
      return [await updateOne(ctx, repo, img, name, opts)];
    }
    let name = parseImageName(img).full;
    try {
      const { ref } = await resolveImageRef(repo, img);
      name = tryDecodeRefName(ref.slice(REF_PREFIX.length)) ?? name;
    } catch (e) {
      if (!isAtomicError(e) || e.code !== 'IMAGE_NOT_FOUND') throw e;
    }
    return [await updateOne(ctx, repo, name, name, opts)];
  }
  const names = [...new Set((await listImages(repo, { onBroken: warnBrokenImage((m) => ctx.out.warn(m)) })).map((e) => e.name).filter((n) => n && n !== '<none>' && !n.startsWith('<none>')))].sort();
  const results: ImageUpdateResult[] = [];
  const summary: ImagesUpdateAllRow[] = [];
  for (const name of names) {
    let qualified = false;
    try {
      qualified = parseImageName(name).registry !== '';
    } catch {
      qualified = false;
    }
    if (!qualified) {
      ctx.out.warn(`Image ${name} not fully qualified: skipping`);
      continue;
    }
    ctx.out.line(`Checking image ${name}...`);
    const before = hexId(await currentDigest(repo, imageRef(name)));
    try {
      const r = await updateOne(ctx, repo, name, name, opts);
      results.push(r);
      summary.push({ name, before, after: hexId(r.after), status: r.changed ? 'Updated now' : 'Updated' });
    } catch (e) {
      ctx.out.warn(`Image ${name}: update failed: ${e instanceof Error ? e.message : String(e)}`);
      summary.push({ name, before, after: hexId(await currentDigest(repo, imageRef(name))), status: 'Could not pull', error: e instanceof Error ? e.message : String(e) });
    }
  }
  opts.onSummary?.(summary);
  return results;
}

/** An image id as atomic showed it: the manifest digest without `sha256:`. */
function hexId(d: string | null): string {
  return (d ?? '').replace(/^sha256:/, '');
}
