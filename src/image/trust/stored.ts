/**
 * The trust record kept with an image in the store (image commit metadata `atomic.trust`, JSON):
 * the signatures that were fetched (GPG ones also as skopeo's `manifest/signature-N` files and the
 * `signatures` count), what the policy accepted (keys, identities, scope) and enough of the image's
 * identity (transport, scopes, docker reference, top-level manifest) to evaluate a policy again
 * offline: `install` of a stored image, `containers rollback`, `images verify`, `images info`.
 */
import { createHash } from 'node:crypto';
import { AtomicError } from '../../util/errors.js';
import { parseDockerRef, refString, dockerScopes } from './docker-ref.js';
import type { FetchedSignatures } from './fetch-signatures.js';
import type { PolicySubject, TrustDecision, VerifiedSignature } from './evaluate.js';

export const TRUST_META_KEY = 'atomic.trust';

export interface TrustRecord {
  v: 1;
  transport: string;
  scopes: string[];
  dockerRef: string | null;
  description: string;
  /** Digest of what the signatures sign; the raw bytes (base64) when it is an index, not the image manifest. */
  topDigest: string;
  topManifest?: string;
  gpg: string[];
  sigstore: Array<{ payload: string; signature: string }>;
  /** The decision when the image was pulled (null: --insecure-policy). */
  decision: { policyFile: string; scope: string | null; requirements: string[]; acceptedAnything: boolean; verified: VerifiedSignature[] } | null;
}

export function makeTrustRecord(subject: PolicySubject, imageManifestDigest: string, decision: TrustDecision | null): TrustRecord {
  const sigs: FetchedSignatures = decision?.signatures ?? { gpg: [], sigstore: [], looked: [] };
  return {
    v: 1,
    transport: subject.transport,
    scopes: subject.scopes,
    dockerRef: subject.dockerRef ? refString(subject.dockerRef) : null,
    description: subject.description,
    topDigest: subject.manifest.digest,
    ...(subject.manifest.digest !== imageManifestDigest ? { topManifest: subject.manifest.raw.toString('base64') } : {}),
    gpg: sigs.gpg.map((b) => b.toString('base64')),
    sigstore: sigs.sigstore.map((s) => ({ payload: s.payload.toString('base64'), signature: s.signature })),
    decision: decision && { policyFile: decision.policyFile, scope: decision.scope, requirements: decision.requirements, acceptedAnything: decision.acceptedAnything, verified: decision.verified },
  };
}

export function parseTrustRecord(json: string | undefined): TrustRecord | null {
  if (json === undefined) return null;
  try {
    const r = JSON.parse(json) as TrustRecord;
    return r && r.v === 1 ? r : null;
  } catch {
    return null;
  }
}

/**
 * A PolicySubject for an image in the store, signatures from its record (no network). Images
 * pulled before records existed (or under --insecure-policy) get their stored name as identity and
 * no signatures. The top-level manifest is checked against the image's own manifest digest, so a
 * record cannot vouch for another image.
 */
export function storedSubject(record: TrustRecord | null, image: { name: string; manifestRaw: Buffer; manifestDigest: string }): PolicySubject {
  const sigs: FetchedSignatures = {
    gpg: (record?.gpg ?? []).map((b) => Buffer.from(b, 'base64')),
    sigstore: (record?.sigstore ?? []).map((s) => ({ payload: Buffer.from(s.payload, 'base64'), signature: s.signature })),
    looked: [record ? 'the signatures stored with the image' : 'no signatures are stored with this image (pulled without a policy check)'],
  };
  let raw = image.manifestRaw;
  let digest = image.manifestDigest;
  if (record?.topManifest !== undefined) {
    raw = Buffer.from(record.topManifest, 'base64');
    digest = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    if (digest !== record.topDigest || !raw.toString('utf8').includes(image.manifestDigest)) {
      throw new AtomicError('STORE_CORRUPT', `the stored trust record of ${image.name} does not belong to its manifest ${image.manifestDigest}`, { suggestions: ['Delete the image and pull it again.'] });
    }
  } else if (record && record.topDigest !== image.manifestDigest) {
    throw new AtomicError('STORE_CORRUPT', `the stored trust record of ${image.name} is for ${record.topDigest}, not for its manifest ${image.manifestDigest}`, { suggestions: ['Delete the image and pull it again.'] });
  }
  let dockerRef = null;
  let transport = record?.transport ?? 'docker';
  let scopes = record?.scopes ?? [];
  const refText = record ? record.dockerRef : image.name;
  if (refText) {
    try {
      dockerRef = parseDockerRef(refText);
      if (!record) scopes = dockerScopes(dockerRef);
    } catch {
      if (!record) transport = 'docker-archive';
    }
  }
  return {
    transport,
    scopes,
    dockerRef,
    description: record?.description ?? image.name,
    manifest: { raw, digest },
    getSignatures: async () => sigs,
  };
}
