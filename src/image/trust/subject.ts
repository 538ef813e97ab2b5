/**
 * The policy's view of an image being pulled (PolicySubject): transport name and scopes as
 * containers/image computes them, the docker reference for identity checks, the manifest the
 * signatures must sign, and where its signatures come from.
 *
 * Local transports (containers/image semantics): `oci:` and `oci-archive:` scopes are the
 * resolved path (with `:TAG` for the most specific one) and its parent directories;
 * `docker-archive:` (and atomic's `dockertar:`) has only the transport default "". None of them
 * carries signatures, so only insecureAcceptAnything / reject (or signedBy with no signature:
 * a refusal) apply to them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageSource, SourceManifest } from '../source.js';
import type { ImageReference } from '../reference.js';
import { dockerScopes, parseDockerRef } from './docker-ref.js';
import { fetchLookaside, fetchSigstore, type FetchedSignatures } from './fetch-signatures.js';
import type { RegistriesD } from './registries-d.js';
import type { PolicySubject } from './evaluate.js';

function realpath(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** A path scope and its parents, most specific first ("/" excluded, as containers/image does). */
export function pathScopes(p: string, tag?: string): string[] {
  const out: string[] = tag ? [`${p}:${tag}`] : [];
  for (let d = p; d !== '/' && d !== '' && d !== '.'; d = path.dirname(d)) out.push(d);
  return out;
}

const none = async (): Promise<FetchedSignatures> => ({ gpg: [], sigstore: [], looked: ['this transport carries no signatures'] });

export async function subjectForSource(source: ImageSource, ref: ImageReference, manifest: SourceManifest, registriesD: () => RegistriesD): Promise<PolicySubject> {
  // loaded here, not statically: the registry client (node:http, node:https, node:tls) is not needed
  // by the trust re-check of a stored image on every install
  const { RegistrySource } = await import('../registry/source.js');
  if (source instanceof RegistrySource) {
    const img = source.resolvedImage;
    const dockerRef = parseDockerRef(`${img.host}/${img.repository}${img.digest ? `@${img.digest}` : `:${img.tag}`}`);
    const top = await source.topLevelManifest();
    return {
      transport: 'docker',
      scopes: dockerScopes(dockerRef),
      dockerRef,
      description: source.description,
      manifest: top,
      async getSignatures(kinds) {
        const conf = registriesD();
        const into: FetchedSignatures = { gpg: [], sigstore: [], looked: [] };
        if (kinds.gpg) await fetchLookaside(conf, dockerRef, top.digest, into);
        if (kinds.sigstore) await fetchSigstore(conf, source, dockerRef, top.digest, into);
        return into;
      },
    };
  }
  const base = { dockerRef: null, description: source.description, manifest: { raw: manifest.raw, digest: manifest.digest }, getSignatures: none };
  switch (ref.transport) {
    case 'oci':
    case 'oci-archive':
      return { ...base, transport: ref.transport, scopes: pathScopes(realpath(ref.path), ref.tag) };
    default:
      return { ...base, transport: 'docker-archive', scopes: [] };
  }
}
