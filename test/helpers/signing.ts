/**
 * Real signatures made by real tools, for the trust tests:
 * - GPG: keys generated with `gpg --quick-gen-key` in a private GNUPGHOME; images signed with
 *   `skopeo copy --sign-by FINGERPRINT` into a lookaside directory (registries.d
 *   `lookaside-staging`).
 * - sigstore: a cosign-format key pair generated here; images signed with
 *   `skopeo copy --sign-by-sigstore-private-key` when the installed skopeo can. Debian 12's skopeo
 *   1.9.3 cannot ("Debian-local change: sigstore disabled", both to sign and to verify), so the
 *   closest real tool signs instead: `openssl dgst -sha256 -sign` over the simple-signing payload
 *   (the same ECDSA P-256 / SHA-256 / ASN.1 DER signature cosign and containers/image make), pushed
 *   to the registry as cosign's `sha256-<hex>.sig` attachment (an OCI manifest whose layer of type
 *   application/vnd.dev.cosign.simplesigning.v1+json is the payload, with the base64 signature in
 *   the `dev.cosignproject.cosign/signature` annotation).
 *
 * cosign's encrypted private key format ("ENCRYPTED COSIGN PRIVATE KEY", what `cosign
 * generate-key-pair` and `skopeo generate-sigstore-key` write, read by containers/image): PEM whose
 * body is the JSON of go-securesystemslib's `encrypted` package:
 *   {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": b64(32 bytes)},
 *    "cipher": {"name": "nacl/secretbox", "nonce": b64(24 bytes)},
 *    "ciphertext": b64(secretbox(PKCS#8 DER private key, nonce, scrypt(passphrase, salt, N, r, p, 32)))}
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, scryptSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import nacl from 'tweetnacl';

export interface GpgKey {
  fingerprint: string;
  /** ASCII-armored public key file. */
  publicKey: string;
}

export function gpgEnv(home: string): NodeJS.ProcessEnv {
  return { ...process.env, GNUPGHOME: home, LC_ALL: 'C' };
}

export function makeGpgKey(home: string, uid: string, outDir: string): GpgKey {
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = gpgEnv(home);
  execFileSync('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const cols = execFileSync('gpg', ['--batch', '--with-colons', '--list-keys', uid], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(cols)![1]!;
  const publicKey = path.join(outDir, `${fingerprint}.asc`);
  fs.writeFileSync(publicKey, execFileSync('gpg', ['--batch', '--armor', '--export', fingerprint], { env }));
  return { fingerprint, publicKey };
}

export interface CosignKey {
  /** cosign-format encrypted private key (for skopeo --sign-by-sigstore-private-key). */
  privateKey: string;
  passphraseFile: string;
  /** PKCS#8 PEM of the same key (for openssl). */
  pkcs8: string;
  /** PEM public key (cosign.pub), what a sigstoreSigned policy names. */
  publicKey: string;
}

export function makeCosignKey(dir: string, name: string, passphrase = 'test-passphrase'): CosignKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = privateKey.export({ type: 'pkcs8', format: 'der' });
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const N = 32768, r = 8, p = 1;
  const key = scryptSync(Buffer.from(passphrase), salt, 32, { N, r, p, maxmem: 256 * N * r });
  const ct = nacl.secretbox(new Uint8Array(der), new Uint8Array(nonce), new Uint8Array(key));
  const json = JSON.stringify({
    kdf: { name: 'scrypt', params: { N, r, p }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(ct).toString('base64'),
  });
  const body = Buffer.from(json).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  const out = {
    privateKey: path.join(dir, `${name}.key`),
    passphraseFile: path.join(dir, `${name}.pass`),
    pkcs8: path.join(dir, `${name}.pkcs8.pem`),
    publicKey: path.join(dir, `${name}.pub`),
  };
  fs.writeFileSync(out.privateKey, `-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n${body}\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n`, { mode: 0o600 });
  fs.writeFileSync(out.passphraseFile, passphrase, { mode: 0o600 });
  fs.writeFileSync(out.pkcs8, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  fs.writeFileSync(out.publicKey, publicKey.export({ type: 'spki', format: 'pem' }));
  return out;
}

/** `skopeo copy` to the test registry (no auth, plain HTTP); extra flags e.g. --sign-by. */
export function skopeoPush(src: string, dest: string, extra: string[] = [], env: NodeJS.ProcessEnv = process.env): { status: number; stderr: string } {
  const r = spawnSync('skopeo', ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', ...extra, src, dest], { env, encoding: 'utf8' });
  return { status: r.status ?? -1, stderr: r.stderr };
}

async function uploadBlob(reg: string, repo: string, data: Buffer): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const start = await fetch(`http://${reg}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`blob upload start: HTTP ${start.status}`);
  const loc = new URL(start.headers.get('location')!, `http://${reg}`);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', body: new Uint8Array(data), headers: { 'Content-Type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status}`);
  return digest;
}

export function sigstorePayload(identity: string, manifestDigest: string): Buffer {
  return Buffer.from(JSON.stringify({ critical: { identity: { 'docker-reference': identity }, image: { 'docker-manifest-digest': manifestDigest }, type: 'cosign container image signature' }, optional: null }));
}

/** Sign `payload` with openssl (ECDSA P-256, SHA-256, DER) and push it as cosign's attachment of `manifestDigest`. */
export async function pushSigstoreAttachment(reg: string, repo: string, manifestDigest: string, payload: Buffer, key: CosignKey, tamper = false): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(path.dirname(key.pkcs8), 'payload-'));
  try {
    fs.writeFileSync(path.join(tmp, 'payload'), payload);
    const sig = execFileSync('openssl', ['dgst', '-sha256', '-sign', key.pkcs8, path.join(tmp, 'payload')]);
    if (tamper) sig[sig.length - 3] ^= 0x01;
    const payloadDigest = await uploadBlob(reg, repo, payload);
    const config = Buffer.from(JSON.stringify({ architecture: '', config: {}, created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '', rootfs: { type: 'layers', diff_ids: [payloadDigest] } }));
    const configDigest = await uploadBlob(reg, repo, config);
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: config.length, digest: configDigest },
      layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', size: payload.length, digest: payloadDigest, annotations: { 'dev.cosignproject.cosign/signature': sig.toString('base64') } }],
    };
    const tag = `${manifestDigest.replace(':', '-')}.sig`;
    const res = await fetch(`http://${reg}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: JSON.stringify(manifest), headers: { 'Content-Type': manifest.mediaType } });
    if (res.status !== 201) throw new Error(`signature manifest push: HTTP ${res.status} ${await res.text()}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Sign `REG/REPO:TAG` (already pushed from `src`) with a sigstore key: with skopeo when it can,
 * else with openssl (see the file comment). Returns which tool signed.
 */
export async function signSigstore(reg: string, repo: string, tag: string, src: string, manifestDigest: string, key: CosignKey, opts: { identity?: string; registriesD: string; tamper?: boolean; forDigest?: string }): Promise<'skopeo' | 'openssl'> {
  if (!opts.identity && !opts.tamper && !opts.forDigest) {
    const r = skopeoPush(src, `docker://${reg}/${repo}:${tag}`, ['--registries.d', opts.registriesD, '--sign-by-sigstore-private-key', key.privateKey, '--sign-passphrase-file', key.passphraseFile]);
    if (r.status === 0) return 'skopeo';
    if (!/sigstore disabled/.test(r.stderr)) throw new Error(`skopeo --sign-by-sigstore-private-key failed: ${r.stderr}`);
  }
  await pushSigstoreAttachment(reg, repo, manifestDigest, sigstorePayload(opts.identity ?? `${reg}/${repo}:${tag}`, opts.forDigest ?? manifestDigest), key, opts.tamper);
  return 'openssl';
}
