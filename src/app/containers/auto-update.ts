/**
 * `atomic auto-update [--dry-run]` (docs/auto-update.md), podman auto-update as the model: every
 * installed system container with an auto-update policy (image label `io.containers.autoupdate`,
 * or `install --system --auto-update`) is checked, and a new image is pulled and deployed through
 * `containers update` — the same use case, with its health gate, rollback and quarantine.
 *
 * - `registry`: the manifest digest of the container's image reference (a HEAD of the tag, then a
 *   GET of the manifest only when the digest differs, to resolve an index for our platform) is
 *   compared with the deployed one. Nothing else is fetched when it did not change.
 * - `local`: the image of the same name in the store is compared with the deployed one.
 * A digest quarantined for the container (a failed health gate) is skipped, and reported, until an
 * operator runs `atomic containers update NAME` by hand.
 */
import type { AppContext } from '../context.js';
import { autoUpdateCandidates, type AutoUpdateCandidate, type AutoUpdatePolicy } from '../../deploy/auto-update.js';
import { containerPaths } from '../../deploy/layout.js';
import { readInfo } from '../../deploy/info-file.js';
import { currentSlot } from '../../deploy/layout.js';
import { unitName } from '../../deploy/container-name.js';
import { isQuarantined } from '../../deploy/quarantine.js';
import { imageIdFor } from '../../deploy/render-slot.js';
import { resolveImages, readImageConfig } from '../../image/stored-image.js';
import { parseImageName } from '../../image/name.js';
import { stripTransport } from '../../image/reference.js';
import { openRegistrySource, MANIFEST_ACCEPT, type RegistrySourceOptions } from '../../image/registry/source.js';
import type { Platform } from '../../image/source.js';
import { trustSettings } from '../../image/trust/policy.js';
import { AtomicError, EXIT, isAtomicError } from '../../util/errors.js';
import { updateContainer } from './update.js';

/** checked: up to date; pending: would be updated (--dry-run); quarantined: the new digest is quarantined, skipped. */
export type AutoUpdateStatus = 'checked' | 'pending' | 'updated' | 'rolled-back' | 'quarantined' | 'failed';

/** One container's result (the `--json` element; docs/auto-update.md). */
export interface AutoUpdateReport {
  name: string;
  unit: string;
  image: string;
  policy: AutoUpdatePolicy;
  /** The deployed image's manifest digest (`sha256:...`) before the run. */
  currentDigest: string;
  /** What the registry (or, for `local`, the store) has now; null when it could not be found out. */
  remoteDigest: string | null;
  status: AutoUpdateStatus;
  error: string | null;
}

export interface AutoUpdateOptions {
  dryRun?: boolean;
  /** Seconds the health gate watches a restarted service (containers update --watch). */
  watch?: number;
  /** --tls-verify, --cert-dir, --src-creds for every registry. */
  registry?: RegistrySourceOptions;
}

const sha = (hex: string): string => (hex.startsWith('sha256:') ? hex : `sha256:${hex}`);
const hexOf = (d: string): string => d.replace(/^sha256:/, '');
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The platform of the stored image `name` (kept on update, as `images update` does). */
async function storedPlatform(ctx: AppContext, name: string): Promise<Partial<Platform> | undefined> {
  try {
    const repo = await ctx.repoIfExists();
    if (!repo) return undefined;
    const [img] = await resolveImages(repo, name);
    const cfg = img ? await readImageConfig(repo, img) : null;
    if (cfg && typeof cfg.os === 'string' && typeof cfg.architecture === 'string') {
      const p: Partial<Platform> = { os: cfg.os, architecture: cfg.architecture };
      if (typeof cfg.variant === 'string') p.variant = cfg.variant;
      return p;
    }
  } catch {
    /* the host's platform */
  }
  return undefined;
}

/** The stored name of a container's image, checked to be a tag on a registry. */
export function registryName(image: string): string {
  const name = stripTransport(image, { docker: true });
  const p = parseImageName(name);
  if (p.registry === '') {
    throw new AtomicError('USAGE', `the image ${image} names no registry, so it cannot be checked for updates`, {
      suggestions: ['Install from a fully qualified name (registry.example.com/app:tag), or use the label io.containers.autoupdate=local and pull new versions yourself.'],
    });
  }
  if (p.digest) {
    throw new AtomicError('USAGE', `the image ${image} is pinned to a digest, so it has no newer version`, {
      suggestions: ['Install from a tag (registry.example.com/app:tag) to have it updated.'],
    });
  }
  return p.full;
}

/**
 * The manifest digest the registry serves for `image` now: a HEAD of the tag; when that differs
 * from `current` (or the registry sends no digest), a GET of the manifest, resolving an index for
 * `platform` (manifests only: no config or layer blob is requested).
 */
export async function remoteManifestDigest(image: string, current: string, o: { registry?: RegistrySourceOptions; platform?: Partial<Platform> } = {}): Promise<string> {
  const name = registryName(image);
  const p = parseImageName(name);
  const src = await openRegistrySource({ transport: 'registry', name, insecure: /^http:/.test(image), raw: image }, { ...o.registry, platform: o.platform });
  try {
    const head = await src.client.get(`manifests/${p.tag}`, { method: 'HEAD', headers: { Accept: MANIFEST_ACCEPT } });
    head.body.resume();
    if (head.status === 200) {
      const d = head.headers['docker-content-digest'];
      if (typeof d === 'string' && hexOf(d) === hexOf(current)) return sha(current);
    } else if (head.status !== 404 && head.status !== 405) {
      throw await src.client.responseError(head, 'manifest');
    }
    // changed, an index, or no digest header: the (platform) manifest itself
    return (await src.getManifest()).digest;
  } finally {
    await src.close();
  }
}

async function localDigest(ctx: AppContext, image: string): Promise<string> {
  const repo = await ctx.repo();
  const [img] = await resolveImages(repo, stripTransport(image));
  if (!img) throw new AtomicError('IMAGE_NOT_FOUND', `Image ${image} not found`);
  return sha(imageIdFor(img));
}

async function checkOne(ctx: AppContext, c: AutoUpdateCandidate, o: AutoUpdateOptions): Promise<AutoUpdateReport> {
  const cp = containerPaths(ctx.paths, c.name);
  const r: AutoUpdateReport = {
    name: c.name,
    unit: unitName(c.name),
    image: c.info.image,
    policy: c.policy,
    currentDigest: sha(c.info.revision),
    remoteDigest: null,
    status: 'checked',
    error: null,
  };
  const platform = c.policy === 'registry' ? await storedPlatform(ctx, stripTransport(c.info.image, { docker: true })) : undefined;
  try {
    r.remoteDigest = c.policy === 'registry' ? await remoteManifestDigest(c.info.image, c.info.revision, { registry: o.registry, platform }) : await localDigest(ctx, c.info.image);
  } catch (e) {
    return { ...r, status: 'failed', error: message(e) };
  }
  if (hexOf(r.remoteDigest) === hexOf(c.info.revision)) return r;
  const q = isQuarantined(cp, hexOf(r.remoteDigest));
  if (q)
    return {
      ...r,
      status: 'quarantined',
      error: `${r.remoteDigest} is quarantined for ${c.name} since ${q.time}: ${q.reason}; run atomic containers update ${c.name} to try it by hand`,
    };
  if (o.dryRun) return { ...r, status: 'pending' };
  if (c.policy === 'registry') {
    try {
      const { pullImage } = await import('../images/pull.js');
      const name = registryName(c.info.image);
      const source = /^https?:/.test(c.info.image) ? c.info.image : `docker://${name}`;
      const pulled = await pullImage(await ctx.repo(), source, {
        name,
        registry: o.registry,
        platform,
        trust: trustSettings(ctx),
        onLine: (l) => ctx.out.line(l),
        onWarning: (w) => ctx.out.warn(w),
      });
      // the tag may have moved again between the check and the pull
      r.remoteDigest = pulled.manifestDigest;
      if (hexOf(r.remoteDigest) === hexOf(c.info.revision)) return r;
      const q2 = isQuarantined(cp, hexOf(r.remoteDigest));
      if (q2) return { ...r, status: 'quarantined', error: `${r.remoteDigest} is quarantined for ${c.name} since ${q2.time}: ${q2.reason}` };
    } catch (e) {
      return { ...r, status: 'failed', error: message(e) };
    }
  }
  try {
    const u = await updateContainer(ctx, { name: c.name, watch: o.watch, auto: true });
    if (!u.updated) return r;
  } catch (e) {
    if (isAtomicError(e) && e.code === 'HEALTH_CHECK_FAILED') return { ...r, status: 'rolled-back', error: e.message };
    return { ...r, status: 'failed', error: message(e) };
  }
  // what is live now (another update may have run in between)
  const live = currentSlot(cp);
  const now = live === null ? null : readInfo(cp.slotDir(live)).revision;
  return now !== null && hexOf(now) === hexOf(r.remoteDigest)
    ? { ...r, status: 'updated' }
    : { ...r, status: 'failed', error: `${c.name} runs ${now ?? 'nothing'} after the update, not ${r.remoteDigest}` };
}

/** Check (and, without --dry-run, update) every container with a policy; one report each, in name order. */
export async function autoUpdate(ctx: AppContext, o: AutoUpdateOptions = {}): Promise<AutoUpdateReport[]> {
  const out: AutoUpdateReport[] = [];
  for (const c of autoUpdateCandidates(ctx)) {
    const r = await checkOne(ctx, c, o);
    if (r.error && r.status !== 'quarantined') ctx.out.warn(`${c.name}: ${r.status}: ${r.error}`);
    out.push(r);
  }
  return out;
}

/**
 * The exit status of a run (docs/auto-update.md): 0 when every container was up to date, updated,
 * pending (--dry-run) or skipped as quarantined; 8 (as `containers update`) when some update was
 * rolled back by the health gate and nothing else failed; 1 when a check, pull or update failed.
 */
export function autoUpdateExitCode(rows: AutoUpdateReport[]): number {
  if (rows.some((r) => r.status === 'failed')) return EXIT.FAILURE;
  if (rows.some((r) => r.status === 'rolled-back')) return EXIT.HEALTH;
  return EXIT.OK;
}

/** podman's UPDATED column. */
export function updatedColumn(s: AutoUpdateStatus): string {
  return { checked: 'false', pending: 'pending', updated: 'true', 'rolled-back': 'rolled back', quarantined: 'quarantined', failed: 'failed' }[s];
}
