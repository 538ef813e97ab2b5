/**
 * `signedIdentity` rules of containers-policy.json(5): does the identity a signature claims
 * (`critical.identity.docker-reference`) fit the image being pulled? Same semantics as
 * containers/image policy_reference_match.go.
 */
import { parseDockerRef, refString, repoName, isNameOnly, type DockerRef } from './docker-ref.js';
import type { IdentityRule } from './policy.js';

function exact(a: DockerRef, b: DockerRef): boolean {
  if (isNameOnly(a) || isNameOnly(b)) return false;
  return refString(a) === refString(b);
}

function repoDigestOrExact(intended: DockerRef, sig: DockerRef): boolean {
  if (intended.digest !== undefined) return repoName(sig) === repoName(intended);
  if (intended.tag !== undefined) return exact(intended, sig);
  return false;
}

/** containers/image refMatchesPrefix: the prefix followed by the end, ':', '/' or '@'. */
function refMatchesPrefix(ref: string, prefix: string): boolean {
  if (ref.length < prefix.length) return false;
  if (ref.length === prefix.length) return ref === prefix;
  if (!ref.startsWith(prefix)) return false;
  const c = ref[prefix.length];
  return c === ':' || c === '/' || c === '@';
}

/**
 * Whether the signature identity `sigRef` is acceptable for the image `intended` (null when the
 * transport has no docker reference: oci:, oci-archive:, docker-archive:).
 */
export function identityMatches(rule: IdentityRule, intended: DockerRef | null, sigRef: DockerRef): boolean {
  switch (rule.type) {
    case 'matchExact':
      return intended !== null && exact(intended, sigRef);
    case 'matchRepoDigestOrExact':
      return intended !== null && repoDigestOrExact(intended, sigRef);
    case 'matchRepository':
      return intended !== null && repoName(intended) === repoName(sigRef);
    case 'exactReference':
      return exact(parseDockerRef(rule.dockerReference), sigRef);
    case 'exactRepository':
      return repoName(parseDockerRef(rule.dockerRepository)) === repoName(sigRef);
    case 'remapIdentity': {
      if (intended === null) return false;
      const s = refString(intended);
      let remapped = intended;
      if (refMatchesPrefix(s, rule.prefix)) remapped = parseDockerRef(rule.signedPrefix + s.slice(rule.prefix.length));
      return repoDigestOrExact(remapped, sigRef);
    }
  }
}

export function describeIdentityRule(rule: IdentityRule): string {
  switch (rule.type) {
    case 'exactReference':
      return `exactReference ${rule.dockerReference}`;
    case 'exactRepository':
      return `exactRepository ${rule.dockerRepository}`;
    case 'remapIdentity':
      return `remapIdentity ${rule.prefix} -> ${rule.signedPrefix}`;
    default:
      return rule.type;
  }
}
