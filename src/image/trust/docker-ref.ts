/**
 * Docker references as containers/image's `reference.ParseNormalizedNamed` sees them, for policy
 * scopes and signature identities: `docker.io` added to an unqualified name (`library/` to a
 * single-component one), lowercase repository, optional tag and digest.
 */
import { AtomicError } from '../../util/errors.js';

export interface DockerRef {
  /** `host[:port]`. */
  domain: string;
  /** Path below the domain: `library/busybox`. */
  path: string;
  tag?: string;
  digest?: string;
}

const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;

function bad(s: string, why: string): AtomicError {
  return new AtomicError('POLICY_INVALID', `"${s}" is not a valid docker reference: ${why}`);
}

/** Parse `[domain/]path[:tag][@digest]`, normalizing like docker (docker.io, library/). */
export function parseDockerRef(input: string): DockerRef {
  let s = input;
  let digest: string | undefined;
  const at = s.indexOf('@');
  if (at >= 0) {
    digest = s.slice(at + 1);
    if (!DIGEST.test(digest)) throw bad(input, `invalid digest "${digest}"`);
    s = s.slice(0, at);
  }
  let tag: string | undefined;
  const colon = s.lastIndexOf(':');
  if (colon > s.lastIndexOf('/')) {
    tag = s.slice(colon + 1);
    if (!TAG.test(tag)) throw bad(input, `invalid tag "${tag}"`);
    s = s.slice(0, colon);
  }
  const parts = s.split('/');
  let domain = 'docker.io';
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost' || /[A-Z]/.test(parts[0]!))) {
    domain = parts.shift()!;
    if (!DOMAIN.test(domain)) throw bad(input, `invalid registry "${domain}"`);
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && parts.length === 1) parts.unshift('library');
  if (parts.length === 0 || parts.some((p) => !PATH_COMPONENT.test(p))) throw bad(input, 'the repository must be lowercase [a-z0-9] components separated by "/" (with ".", "_", "-" inside)');
  return { domain, path: parts.join('/'), tag, digest };
}

/** `domain/path`. */
export function repoName(r: DockerRef): string {
  return `${r.domain}/${r.path}`;
}

/** The full reference: `domain/path[:tag][@digest]`. */
export function refString(r: DockerRef): string {
  return `${repoName(r)}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

export function isNameOnly(r: DockerRef): boolean {
  return r.tag === undefined && r.digest === undefined;
}

/**
 * Policy scopes of a docker reference, most specific first (containers/image
 * `PolicyConfigurationIdentity` + `PolicyConfigurationNamespaces`): `repo:tag` (or `repo@digest`),
 * `repo`, each parent namespace, the host, then `*.example.com` wildcards of the host.
 */
export function dockerScopes(r: DockerRef): string[] {
  const name = repoName(r);
  // A reference with both tag and digest is identified by its digest (as containers/image does).
  const identity = r.digest !== undefined ? `${name}@${r.digest}` : r.tag !== undefined ? `${name}:${r.tag}` : name;
  const out = [identity];
  let ns = name;
  while (true) {
    if (!out.includes(ns)) out.push(ns);
    const slash = ns.lastIndexOf('/');
    if (slash < 0) break;
    ns = ns.slice(0, slash);
  }
  // Wildcards: *.b.c, *.c for host a.b.c (port dropped), as containers/image does.
  let host = r.domain.replace(/:[0-9]+$/, '');
  if (!host.startsWith('[')) {
    for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.')) {
      host = host.slice(dot + 1);
      out.push(`*.${host}`);
    }
  }
  return out;
}
