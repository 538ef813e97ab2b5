/**
 * The "simple signing" payload both signature kinds sign (containers-signature(5)):
 * `{"critical": {"type": T, "image": {"docker-manifest-digest": D}, "identity": {"docker-reference": R}}, "optional": {...}}`,
 * with T = "atomic container signature" (GPG) or "cosign container image signature" (sigstore).
 * Parsed as strictly as containers/image: exact field sets in `critical`, the right type.
 */
import { createHash } from 'node:crypto';

export const GPG_PAYLOAD_TYPE = 'atomic container signature';
export const SIGSTORE_PAYLOAD_TYPE = 'cosign container image signature';

export interface SignedClaims {
  manifestDigest: string;
  dockerReference: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function exactKeys(o: unknown, keys: string[], what: string): Record<string, unknown> {
  if (!isObj(o)) throw new Error(`${what} is not a JSON object`);
  const have = Object.keys(o).sort();
  if (have.join('\0') !== [...keys].sort().join('\0')) throw new Error(`${what} has fields ${JSON.stringify(have)}, expected exactly ${JSON.stringify(keys)}`);
  return o;
}

/** Parse a verified payload; throws an Error with the reason when it is malformed. */
export function parsePayload(content: Buffer, type: string): SignedClaims {
  let doc: unknown;
  try {
    doc = JSON.parse(content.toString('utf8'));
  } catch (e) {
    throw new Error(`the signed payload is not JSON: ${(e as Error).message}`);
  }
  if (!isObj(doc)) throw new Error('the signed payload is not a JSON object');
  const top = type === GPG_PAYLOAD_TYPE ? exactKeys(doc, ['critical', 'optional'], 'the signed payload') : doc;
  for (const k of Object.keys(top)) if (k !== 'critical' && k !== 'optional') throw new Error(`the signed payload has an unknown field "${k}"`);
  const critical = exactKeys(top.critical, ['type', 'image', 'identity'], '"critical"');
  if (critical.type !== type) throw new Error(`the signature type is ${JSON.stringify(critical.type)}, expected "${type}"`);
  const image = exactKeys(critical.image, ['docker-manifest-digest'], '"critical.image"');
  const identity = exactKeys(critical.identity, ['docker-reference'], '"critical.identity"');
  const d = image['docker-manifest-digest'];
  const r = identity['docker-reference'];
  if (typeof d !== 'string' || !/^[a-z0-9]+:[0-9a-f]+$/.test(d)) throw new Error('"docker-manifest-digest" is not a digest');
  if (typeof r !== 'string' || r === '') throw new Error('"docker-reference" is not a string');
  if (top.optional !== undefined && top.optional !== null && !isObj(top.optional)) throw new Error('"optional" is not an object');
  return { manifestDigest: d, dockerReference: r };
}

const ALGS: Record<string, string> = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

/** containers/image manifest.MatchesDigest for OCI / Docker v2 manifests: the digest of the raw bytes. */
export function manifestMatchesDigest(raw: Buffer, digest: string): boolean {
  const [alg, hex] = digest.split(':');
  const h = alg !== undefined ? ALGS[alg] : undefined;
  if (!h || !hex) return false;
  return createHash(h).update(raw).digest('hex') === hex;
}
