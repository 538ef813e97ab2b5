/**
 * `atomic images verify IMAGE`: re-checksum every object of the image (image commit, config
 * commit, every layer commit and all objects they reach). Returns one line per problem.
 */
import type { AppContext } from '../context.js';
import { resolveImages, REF_PREFIX } from '../../image/stored-image.js';
import { AtomicError, isAtomicError } from '../../util/errors.js';
import { recheckStoredTrust } from '../../image/trust/check.js';
import { trustSettings } from '../../image/trust/policy.js';

export async function imagesVerify(ctx: AppContext, image: string): Promise<{ checked: number; problems: string[]; lines: string[]; policyError: AtomicError | null }> {
  const repo = await ctx.repoIfExists();
  if (!repo) throw new AtomicError('IMAGE_NOT_FOUND', `Image ${image} not found`);
  const [img] = await resolveImages(repo, image);
  const problems: string[] = [];
  const lines: string[] = [];
  const targets: Array<[string, string]> = [['image', img.ref]];
  if (img.configDigest) targets.push(['config', REF_PREFIX + img.configDigest.replace(/^sha256:/, '')]);
  for (const l of img.layers) targets.push([`layer ${l}`, REF_PREFIX + l.replace(/^sha256:/, '')]);
  let checked = 0;
  for (const [what, ref] of targets) {
    const c = await repo.resolveRef(ref);
    if (!c) {
      problems.push(`${what}: ref ${ref} is missing`);
      continue;
    }
    const p = await repo.verifyCommit(c);
    checked++;
    if (p.length) problems.push(...p.map((x) => `${what}: ${x}`));
    lines.push(`${what}: ${p.length ? 'FAILED' : 'ok'} (commit ${c})`);
  }
  // The stored signatures, checked again offline against the current policy.
  let policyError: AtomicError | null = null;
  try {
    const r = await recheckStoredTrust(repo, img.commit, img.name, { settings: trustSettings(ctx), onLine: (l) => lines.push(`signature: ${l}`) });
    if (r.decision) lines.push(`signature: ok (policy ${r.decision.policyFile})`);
  } catch (e) {
    if (!isAtomicError(e) || (e.code !== 'POLICY_REJECTED' && e.code !== 'STORE_CORRUPT')) throw e;
    lines.push(`signature: FAILED (${e.message})`);
    policyError = e;
  }
  return { checked, problems, lines, policyError };
}
