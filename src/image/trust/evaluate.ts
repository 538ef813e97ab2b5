/**
 * Policy evaluation (containers/image policy_eval*.go): pick the requirements of the most specific
 * scope of the image's transport (else the transport's "" scope, else "default"); every
 * requirement must accept the image. signedBy / sigstoreSigned accept when at least one signature
 * verifies with one of the policy's keys, signs this manifest digest, and claims an identity the
 * signedIdentity rule accepts. A refusal names the requirement, the scope and what to change.
 */
import * as fs from 'node:fs';
import { AtomicError } from '../../util/errors.js';
import type { KeyObject } from 'node:crypto';
import { parseDockerRef, refString, type DockerRef } from './docker-ref.js';
import { describeIdentityRule, identityMatches } from './identity.js';
import { GPG_PAYLOAD_TYPE, SIGSTORE_PAYLOAD_TYPE, manifestMatchesDigest, parsePayload, type SignedClaims } from './payload.js';
// gpg.ts (child_process) is loaded only when a signedBy requirement is checked
import { parsePublicKeys, sigstoreSignatureValid } from './sigstore.js';
import type { FetchedSignatures } from './fetch-signatures.js';
import type { Policy, Requirement } from './policy.js';

export interface PolicySubject {
  /** Policy transport name: docker, oci, oci-archive, docker-archive. */
  transport: string;
  /** Scope candidates, most specific first (without the transport default ""). */
  scopes: string[];
  /** The image's docker reference (signedIdentity matching); null for local transports. */
  dockerRef: DockerRef | null;
  /** For messages: "docker://127.0.0.1:5000/app:1". */
  description: string;
  /** What signatures sign: the top-level manifest (an index when the image came from one). */
  manifest: { raw: Buffer; digest: string };
  /** Fetch (or, offline, return the stored) signatures; called at most once. */
  getSignatures(kinds: { gpg: boolean; sigstore: boolean }): Promise<FetchedSignatures>;
}

export interface VerifiedSignature {
  kind: 'gpg' | 'sigstore';
  /** GPG: the primary key fingerprint; sigstore: the key file (or "keyData"). */
  key: string;
  /** Where the policy takes the key from: a file name or "keyData". */
  keySource: string;
  /** The identity the signature claims. */
  identity: string;
  /** The signed manifest digest. */
  digest: string;
  /** 1-based index among the signatures of its kind. */
  index: number;
}

export interface TrustDecision {
  policyFile: string;
  transport: string;
  /** The scope whose requirements applied: a scope key, "" (transport default) or null (policy default). */
  scope: string | null;
  requirements: string[];
  /** Accepted without any signature check (insecureAcceptAnything only). */
  acceptedAnything: boolean;
  verified: VerifiedSignature[];
  /** What was fetched (null when no requirement needed signatures). */
  signatures: FetchedSignatures | null;
}

export function scopeLabel(transport: string, scope: string | null): string {
  if (scope === null) return 'the policy "default"';
  if (scope === '') return `transports.${transport}[""] (the ${transport} transport default)`;
  return `transports.${transport}["${scope}"]`;
}

export function requirementsFor(policy: Policy, transport: string, scopes: string[]): { scope: string | null; reqs: Requirement[] } {
  const t = policy.transports[transport];
  if (t) {
    for (const s of scopes) if (t[s]) return { scope: s, reqs: t[s]! };
    if (t['']) return { scope: '', reqs: t['']! };
  }
  return { scope: null, reqs: policy.default };
}

const MAX_KEY_FILE = 1024 * 1024;

function readKeyFile(p: string, policyFile: string): Buffer {
  try {
    const st = fs.statSync(p);
    if (st.size > MAX_KEY_FILE) throw new Error(`larger than ${MAX_KEY_FILE} bytes`);
    return fs.readFileSync(p);
  } catch (e) {
    throw new AtomicError('POLICY_INVALID', `cannot read key file ${p} named in ${policyFile}: ${(e as Error).message}`, {
      ref: p,
      suggestions: ['Install the public key at that path, or fix keyPath/keyPaths in the policy (atomic trust show).'],
    });
  }
}

function keySources(r: { keyPath?: string; keyPaths?: string[]; keyData?: string }, policyFile: string): Array<{ source: string; data: Buffer }> {
  if (r.keyData !== undefined) return [{ source: 'keyData', data: Buffer.from(r.keyData, 'base64') }];
  const paths = r.keyPath !== undefined ? [r.keyPath] : r.keyPaths ?? [];
  return paths.map((p) => ({ source: p, data: readKeyFile(p, policyFile) }));
}

function checkClaims(claims: SignedClaims, subject: PolicySubject, rule: Requirement & { signedIdentity: unknown }): string | null {
  if (!manifestMatchesDigest(subject.manifest.raw, claims.manifestDigest)) {
    return `the signature is for manifest digest ${claims.manifestDigest}, not for this image (${subject.manifest.digest})`;
  }
  let sigRef: DockerRef;
  try {
    sigRef = parseDockerRef(claims.dockerReference);
  } catch {
    return `the signature claims an invalid identity "${claims.dockerReference}"`;
  }
  const r = rule as Extract<Requirement, { type: 'signedBy' | 'sigstoreSigned' }>;
  if (!identityMatches(r.signedIdentity, subject.dockerRef, sigRef)) {
    const img = subject.dockerRef ? refString(subject.dockerRef) : `${subject.description} (no docker reference)`;
    return `the signature claims identity ${claims.dockerReference}, which signedIdentity ${describeIdentityRule(r.signedIdentity)} does not accept for ${img}`;
  }
  return null;
}

export interface EvaluateEvents {
  onLine?(line: string): void;
}

type KeySource = { source: string; data: Buffer };

interface RequirementResult {
  accepted: VerifiedSignature[];
  /** Why each refused signature was refused. */
  reasons: string[];
}

/** signedBy: each GPG signature checked with gpgv against the requirement's keys, then its claims. */
async function verifyGpg(req: Extract<Requirement, { type: 'signedBy' }>, keys: KeySource[], list: Buffer[], subject: PolicySubject, policyFile: string): Promise<RequirementResult> {
  const reasons: string[] = [];
  const accepted: VerifiedSignature[] = [];
  const { dearmor, gpgvVerify } = await import('./gpg.js');
  let keyring: Buffer;
  try {
    keyring = Buffer.concat(keys.map((k) => dearmor(k.data)));
  } catch (e) {
    throw new AtomicError('POLICY_INVALID', `the GPG key(s) ${keys.map((k) => k.source).join(', ')} in ${policyFile} cannot be read: ${(e as Error).message}`);
  }
  for (const [i, sig] of list.entries()) {
    const r = await gpgvVerify(sig as Buffer, keyring);
    if (!r.ok) {
      reasons.push(`signature ${i + 1}: ${r.reason}`);
      continue;
    }
    let claims: SignedClaims;
    try {
      claims = parsePayload(r.content, GPG_PAYLOAD_TYPE);
    } catch (e) {
      reasons.push(`signature ${i + 1}: ${(e as Error).message}`);
      continue;
    }
    const bad = checkClaims(claims, subject, req);
    if (bad) {
      reasons.push(`signature ${i + 1}: ${bad}`);
      continue;
    }
    accepted.push({ kind: 'gpg', key: r.fingerprint, keySource: keys.length === 1 ? keys[0]!.source : keys.map((k) => k.source).join(','), identity: claims.dockerReference, digest: claims.manifestDigest, index: i + 1 });
  }
  return { accepted, reasons };
}

/** sigstoreSigned: each sigstore signature checked against the requirement's public keys, then its claims. */
async function verifySigstore(req: Extract<Requirement, { type: 'sigstoreSigned' }>, keys: KeySource[], list: FetchedSignatures['sigstore'], subject: PolicySubject, policyFile: string): Promise<RequirementResult> {
  const reasons: string[] = [];
  const accepted: VerifiedSignature[] = [];
  const parsed: Array<{ source: string; key: KeyObject }> = [];
  for (const k of keys) {
    try {
      for (const key of parsePublicKeys(k.data)) parsed.push({ source: k.source, key });
    } catch (e) {
      throw new AtomicError('POLICY_INVALID', `the sigstore public key ${k.source} in ${policyFile} cannot be read: ${(e as Error).message}`);
    }
  }
  for (const [i, s] of list.entries()) {
    const signer = parsed.find((k) => sigstoreSignatureValid(s.payload, s.signature, k.key));
    if (!signer) {
      reasons.push(`sigstore signature ${i + 1}: cryptographic signature verification failed with ${keys.map((k) => k.source).join(', ')}`);
      continue;
    }
    let claims: SignedClaims;
    try {
      claims = parsePayload(s.payload, SIGSTORE_PAYLOAD_TYPE);
    } catch (e) {
      reasons.push(`sigstore signature ${i + 1}: ${(e as Error).message}`);
      continue;
    }
    const bad = checkClaims(claims, subject, req);
    if (bad) {
      reasons.push(`sigstore signature ${i + 1}: ${bad}`);
      continue;
    }
    accepted.push({ kind: 'sigstore', key: signer.source, keySource: signer.source, identity: claims.dockerReference, digest: claims.manifestDigest, index: i + 1 });
  }
  return { accepted, reasons };
}

/** Evaluate `policy` for `subject`; returns what was verified, throws POLICY_REJECTED on refusal. */
export async function evaluatePolicy(policy: Policy, subject: PolicySubject, ev: EvaluateEvents = {}): Promise<TrustDecision> {
  const { scope, reqs } = requirementsFor(policy, subject.transport, subject.scopes);
  const where = scopeLabel(subject.transport, scope);
  const decision: TrustDecision = {
    policyFile: policy.file, transport: subject.transport, scope, requirements: reqs.map((r) => r.type),
    acceptedAnything: reqs.every((r) => r.type === 'insecureAcceptAnything'), verified: [], signatures: null,
  };
  const reject = (req: string, reason: string, suggestions: string[]): AtomicError =>
    new AtomicError('POLICY_REJECTED', `Source image rejected: ${reason} (${subject.description}: requirement "${req}" of ${where} in ${policy.file})`, { ref: subject.description, suggestions });

  const needGpg = reqs.some((r) => r.type === 'signedBy');
  const needSigstore = reqs.some((r) => r.type === 'sigstoreSigned');
  if (reqs.some((r) => r.type === 'reject')) {
    throw reject('reject', 'Running image is rejected by policy', [`Add a scope for this image that accepts it: atomic trust add --sigstoretype lookaside|sigstore --pubkeys KEY SCOPE (or --type insecureAcceptAnything SCOPE).`]);
  }
  if (needGpg || needSigstore) {
    ev.onLine?.('Getting image source signatures');
    decision.signatures = await subject.getSignatures({ gpg: needGpg, sigstore: needSigstore });
  }
  const sigs = decision.signatures ?? { gpg: [], sigstore: [], looked: [] };
  const looked = sigs.looked.length ? ` (looked in: ${sigs.looked.join('; ')})` : '';
  for (const req of reqs) {
    if (req.type === 'insecureAcceptAnything') continue;
    if (req.type === 'reject') continue;
    const keys = keySources(req, policy.file);
    const list = req.type === 'signedBy' ? sigs.gpg : sigs.sigstore;
    const kind = req.type === 'signedBy' ? 'GPG' : 'sigstore';
    if (list.length === 0) {
      throw reject(req.type, `A signature was required, but no ${kind} signature exists${looked}`, [
        req.type === 'signedBy'
          ? 'Sign the image (skopeo copy --sign-by FINGERPRINT) and publish the signature in the lookaside store that registries.d names (atomic trust add --sigstore URL ...).'
          : 'Sign the image (cosign sign --key / skopeo copy --sign-by-sigstore-private-key) and enable use-sigstore-attachments for the registry in registries.d (atomic trust add --sigstoretype sigstore ...).',
      ]);
    }
    const { accepted, reasons } = req.type === 'signedBy' ? await verifyGpg(req, keys, list as Buffer[], subject, policy.file) : await verifySigstore(req, keys, sigs.sigstore, subject, policy.file);
    if (accepted.length === 0) {
      throw reject(req.type, reasons.length === 1 ? reasons[0]! : `None of the signatures were accepted: ${reasons.join('; ')}`, [
        req.type === 'signedBy' ? 'Check that the image is signed with one of the policy\'s keys for this name and digest (atomic trust show).' : 'Check that the image is signed with the policy\'s sigstore key for this name and digest (atomic trust show).',
      ]);
    }
    for (const a of accepted) {
      ev.onLine?.(a.kind === 'gpg'
        ? `Signature verified: GPG key ${a.key} (${req.type}, ${a.keySource}), identity ${a.identity}`
        : `Signature verified: sigstore key ${a.key} (${req.type}), identity ${a.identity}`);
    }
    decision.verified.push(...accepted);
  }
  if (decision.acceptedAnything) {
    ev.onLine?.(`Accepting ${subject.description} without checking signatures: ${where} in ${policy.file} is insecureAcceptAnything`);
  }
  return decision;
}
