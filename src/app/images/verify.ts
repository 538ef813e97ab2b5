/**
 * `atomic images verify IMAGE`: re-checksum every object of the image (image commit, config
 * commit, every layer commit and all objects they reach) and check its stored signatures again.
 * Returns what was found; the command prints it and fails on a problem.
 */
import type { AppContext } from '../context.js';
import { resolveImages, REF_PREFIX } from '../../image/stored-image.js';
import { AtomicError, isAtomicError } from '../../util/errors.js';
import { recheckStoredTrust } from '../../image/trust/check.js';
import { trustSettings } from '../../image/trust/policy.js';

export interface VerifiedCommit {
  /** `image`, `config` or `layer DIGEST`. */
  what: string;
  ref: string;
  /** null: the ref is missing. */
  commit: string | null;
  problems: string[];
}

export interface ImageVerification {
  commits: VerifiedCommit[];
  /** Every problem, `WHAT: problem`, in the order of `commits`. */
  problems: string[];
  signature: {
    /** What the policy check reported on the way (e.g. that it was not checked). */
    notes: string[];
    /** The policy file the stored signatures satisfy; null when none was checked or it failed. */
    policyFile: string | null;
    /** POLICY_REJECTED or STORE_CORRUPT from the check. */
    error: AtomicError | null;
  };
}

export async function imagesVerify(ctx: AppContext, image: string): Promise<ImageVerification> {
  const repo = await ctx.repoIfExists();
  if (!repo) throw new AtomicError('IMAGE_NOT_FOUND', `Image ${image} not found`);
  const [img] = await resolveImages(repo, image);
  const targets: Array<[string, string]> = [['image', img.ref]];
  if (img.configDigest) targets.push(['config', REF_PREFIX + img.configDigest.replace(/^sha256:/, '')]);
  for (const l of img.layers) targets.push([`layer ${l}`, REF_PREFIX + l.replace(/^sha256:/, '')]);
  const commits: VerifiedCommit[] = [];
  const problems: string[] = [];
  for (const [what, ref] of targets) {
    const commit = await repo.resolveRef(ref);
    const found = commit ? await repo.verifyCommit(commit) : [`ref ${ref} is missing`];
    commits.push({ what, ref, commit, problems: found });
    problems.push(...found.map((x) => `${what}: ${x}`));
  }
  // The stored signatures, checked again offline against the current policy.
  const signature: ImageVerification['signature'] = { notes: [], policyFile: null, error: null };
  try {
    const r = await recheckStoredTrust(repo, img.commit, img.name, { settings: trustSettings(ctx), onLine: (l) => signature.notes.push(l) });
    if (r.decision) signature.policyFile = r.decision.policyFile;
  } catch (e) {
    if (!isAtomicError(e) || (e.code !== 'POLICY_REJECTED' && e.code !== 'STORE_CORRUPT')) throw e;
    signature.error = e;
  }
  return { commits, problems, signature };
}
