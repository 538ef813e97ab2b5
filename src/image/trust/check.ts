/**
 * The two entry points of the trust module:
 * - `checkPullTrust`: evaluate the policy for an image about to be pulled (before any layer is
 *   committed) and return the record to store with it;
 * - `recheckStoredTrust`: evaluate the (current) policy again, offline, for an image in the store.
 */
import { AtomicError } from '../../util/errors.js';
import { parseImageReference, type ImageReference } from '../reference.js';
import { META, metaString } from '../stored-image.js';
import type { ImageSource, SourceManifest } from '../source.js';
import type { OstreeRepo } from '../../store/repo.js';
import type { Checksum } from '../../store/types.js';
import { loadPolicy, registriesDirFor, type TrustSettings } from './policy.js';
import { loadRegistriesD, type RegistriesD } from './registries-d.js';
import { evaluatePolicy, type TrustDecision } from './evaluate.js';
import { subjectForSource } from './subject.js';
import { TRUST_META_KEY, makeTrustRecord, parseTrustRecord, storedSubject, type TrustRecord } from './stored.js';

export interface TrustCheckOptions {
  settings?: TrustSettings;
  cwd?: string;
  onLine?(line: string): void;
}

/** Check `source` against the policy; throws POLICY_REJECTED / POLICY_INVALID. */
export async function checkPullTrust(source: ImageSource, src: string | ImageReference, manifest: SourceManifest, opts: TrustCheckOptions = {}): Promise<TrustRecord> {
  const settings = opts.settings ?? {};
  const ref = typeof src === 'string' ? parseImageReference(src, { cwd: opts.cwd }) : src;
  let conf: RegistriesD | undefined;
  const subject = await subjectForSource(source, ref, manifest, () => (conf ??= loadRegistriesD(registriesDirFor(settings))));
  if (settings.insecurePolicy) {
    opts.onLine?.(`Accepting ${source.description} without checking signatures: --insecure-policy`);
    return makeTrustRecord(subject, manifest.digest, null);
  }
  const policy = loadPolicy(settings);
  const decision = await evaluatePolicy(policy, subject, { onLine: opts.onLine });
  return makeTrustRecord(subject, manifest.digest, decision);
}

export interface StoredTrustResult {
  record: TrustRecord | null;
  /** null when the check was skipped (--insecure-policy). */
  decision: TrustDecision | null;
}

/** Read the trust record of an image commit (null when it has none). */
export async function readTrustRecord(repo: OstreeRepo, commit: Checksum): Promise<TrustRecord | null> {
  const meta = (await repo.readCommit(commit)).metadata;
  return parseTrustRecord(metaString(meta, TRUST_META_KEY));
}

/**
 * Evaluate the current policy for the stored image `commit` using only what the store holds.
 * `what` names the operation for the refusal message ("rollback of etcd").
 */
export async function recheckStoredTrust(repo: OstreeRepo, commit: Checksum, name: string, opts: TrustCheckOptions & { what?: string } = {}): Promise<StoredTrustResult> {
  const meta = (await repo.readCommit(commit)).metadata;
  const record = parseTrustRecord(metaString(meta, TRUST_META_KEY));
  const raw = metaString(meta, META.manifest);
  const digest = metaString(meta, META.digest);
  if (raw === undefined || digest === undefined) throw new AtomicError('STORE_CORRUPT', `image commit ${commit} of ${name} has no manifest metadata`, { suggestions: ['Delete the image and pull it again.'] });
  if (opts.settings?.insecurePolicy) {
    opts.onLine?.(`Signature policy not checked for ${name}: --insecure-policy`);
    return { record, decision: null };
  }
  const subject = storedSubject(record, { name, manifestRaw: Buffer.from(raw, 'utf8'), manifestDigest: digest });
  subject.description = `${name} (stored)`;
  const policy = loadPolicy(opts.settings ?? {});
  try {
    // offline re-check of a stored image: no fetch to announce, and an accept-anything policy was
    // already reported when the image was pulled (repeating it would pollute install/run output)
    const quiet = (l: string) => l === 'Getting image source signatures' || l.startsWith('Accepting ');
    const decision = await evaluatePolicy(policy, subject, { onLine: opts.onLine ? (l) => !quiet(l) && opts.onLine!(l) : undefined });
    return { record, decision };
  } catch (e) {
    if (e instanceof Error && (e as AtomicError).code === 'POLICY_REJECTED' && opts.what) {
      const a = e as AtomicError;
      throw new AtomicError('POLICY_REJECTED', `${opts.what} refused: the image's stored signatures do not satisfy the current policy. ${a.message}`, {
        ref: a.ref,
        suggestions: [...a.suggestions, `Pass --insecure-policy to ${opts.what.split(' ')[0]} anyway (the signature check is then skipped).`],
      });
    }
    throw e;
  }
}
