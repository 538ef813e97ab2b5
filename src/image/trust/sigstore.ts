/**
 * Sigstore ("cosign") signatures with a public key, verified with Node's crypto: the signature is
 * the base64 annotation `dev.cosignproject.cosign/signature` of a layer of media type
 * `application/vnd.dev.cosign.simplesigning.v1+json` whose blob is the payload; for ECDSA P-256
 * keys (cosign's default) it is an ASN.1 DER ECDSA signature over SHA-256 of the payload.
 * RSA (PKCS#1 v1.5, SHA-256) and Ed25519 keys are accepted as sigstore's LoadVerifier does.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

export const SIGSTORE_LAYER_MEDIATYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGSTORE_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

/** Every PEM public key in `data` (a key file may hold several). */
export function parsePublicKeys(data: Buffer): KeyObject[] {
  const text = data.toString('utf8');
  const blocks = text.match(/-----BEGIN [A-Z ]*PUBLIC KEY-----[\s\S]*?-----END [A-Z ]*PUBLIC KEY-----/g) ?? [];
  if (blocks.length === 0) throw new Error('no PEM "PUBLIC KEY" block');
  return blocks.map((b) => createPublicKey(b));
}

export function sigstoreSignatureValid(payload: Buffer, signatureB64: string, key: KeyObject): boolean {
  if (!/^[A-Za-z0-9+/=\s]+$/.test(signatureB64)) return false;
  const sig = Buffer.from(signatureB64, 'base64');
  try {
    return verify(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', payload, key, sig);
  } catch {
    return false;
  }
}
