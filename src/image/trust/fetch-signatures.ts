/**
 * Reading signatures of a registry image: GPG signatures from the lookaside store that
 * registries.d names (`BASE/REPO@sha256=HEX/signature-N`, N = 1, 2, ... until the first missing
 * one; `file://` and `http(s)://`), and sigstore signatures from the registry's
 * `sha256-HEX.sig` tag (cosign's attachment convention) when `use-sigstore-attachments` is on.
 */
import * as fs from 'node:fs';
import { AtomicError, isErrno } from '../../util/errors.js';
import { readStreamAtMost, tooLarge } from '../../util/bounded-read.js';
import { MT } from '../manifest.js';
import type { RegistrySource } from '../registry/source.js';
import type { HttpClient, HttpResponse } from '../registry/http.js';
import type { Digest } from '../../store/types.js';
import type { DockerRef } from './docker-ref.js';
import { lookasideFor, useSigstoreAttachments, type RegistriesD } from './registries-d.js';
import { SIGSTORE_LAYER_MEDIATYPE, SIGSTORE_SIGNATURE_ANNOTATION } from './sigstore.js';

export interface SigstoreSignature {
  payload: Buffer;
  /** base64 of the signature (the annotation's value). */
  signature: string;
}

export interface FetchedSignatures {
  gpg: Buffer[];
  sigstore: SigstoreSignature[];
  /** Where we looked, for messages ("lookaside file:///...", "registry tag sha256-...sig"). */
  looked: string[];
}

/** containers/image limits: 128 lookaside signatures, 4 MiB each. */
const MAX_SIGNATURES = 128;
const MAX_SIGNATURE = 4 * 1024 * 1024;

export function lookasideUrl(base: string, ref: DockerRef, digest: string, index: number): string {
  const [alg, hex] = digest.split(':');
  return `${base.replace(/\/+$/, '')}/${ref.path}@${alg}=${hex}/signature-${index}`;
}

/** One signature (null: there is none at URL). HTTP(S) goes through the client HTTP() returns. */
async function readLookaside(url: string, http: () => Promise<HttpClient>): Promise<Buffer | null> {
  const u = new URL(url);
  if (u.protocol === 'file:') {
    const p = decodeURIComponent(u.pathname);
    try {
      const st = fs.statSync(p);
      if (!st.isFile()) throw new AtomicError('POLICY_INVALID', `lookaside signature ${p} is not a regular file`);
      if (st.size > MAX_SIGNATURE) throw new AtomicError('IMAGE_TOO_LARGE', `lookaside signature ${p} is larger than ${MAX_SIGNATURE} bytes`);
      return fs.readFileSync(p);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return null;
      throw e;
    }
  }
  if (u.protocol === 'http:' || u.protocol === 'https:') {
    const client = await http();
    let res: HttpResponse;
    try {
      res = await client.request(u, { method: 'GET', maxRedirects: 20 });
    } catch (e) {
      throw new AtomicError('IO', `reading signature ${url}: ${(e as Error).message}`, { ref: url });
    }
    if (res.status !== 200) {
      res.body.resume();
      if (res.status === 404) return null;
      throw new AtomicError('IO', `reading signature ${url}: HTTP ${res.status}`, { ref: url });
    }
    const len = Number(res.headers['content-length']);
    if (Number.isFinite(len) && len > MAX_SIGNATURE) {
      res.body.destroy();
      throw tooLarge(`signature ${url}`, MAX_SIGNATURE, len);
    }
    return readStreamAtMost(res.body, MAX_SIGNATURE, `signature ${url}`);
  }
  throw new AtomicError('POLICY_INVALID', `lookaside URL ${url}: only file://, http:// and https:// are supported`, { ref: url });
}

export async function fetchLookaside(conf: RegistriesD, ref: DockerRef, digest: string, into: FetchedSignatures): Promise<void> {
  const base = lookasideFor(conf, ref);
  if (!base) {
    into.looked.push(`no lookaside configured for ${ref.domain}/${ref.path} in ${conf.dir}`);
    return;
  }
  into.looked.push(`lookaside ${lookasideUrl(base.url, ref, digest, 1).replace(/\/signature-1$/, '/')}`);
  // One HTTP client for all signature-N of this image (one keep-alive connection, one TLS context):
  // the registry client's HTTP layer, not the global fetch, so the NODE_EXTRA_CA_CERTS roots that
  // bin/run.js deferred (util/extra-ca.ts) and its inactivity and slow-transfer limits apply. Loaded
  // only when a signature is read over HTTP (node:http, https and tls are ~5% of an install).
  let client: HttpClient | undefined;
  const http = async (): Promise<HttpClient> => (client ??= new (await import('../registry/http.js')).HttpClient(() => ({ verify: true, ca: [] })));
  try {
    for (let i = 1; ; i++) {
      if (i > MAX_SIGNATURES) throw new AtomicError('IMAGE_TOO_LARGE', `more than ${MAX_SIGNATURES} lookaside signatures for ${ref.domain}/${ref.path}@${digest}`);
      const sig = await readLookaside(lookasideUrl(base.url, ref, digest, i), http);
      if (sig === null) return;
      into.gpg.push(sig);
    }
  } finally {
    client?.close();
  }
}

export async function fetchSigstore(conf: RegistriesD, source: RegistrySource, ref: DockerRef, digest: Digest, into: FetchedSignatures): Promise<void> {
  if (!useSigstoreAttachments(conf, ref)) {
    into.looked.push(`sigstore attachments not enabled for ${ref.domain}/${ref.path} (use-sigstore-attachments in ${conf.dir})`);
    return;
  }
  const tag = `${digest.replace(':', '-')}.sig`;
  into.looked.push(`registry tag ${tag}`);
  const res = await source.client.get(`manifests/${tag}`, { headers: { Accept: MT.ociManifest } });
  if (res.status === 404) {
    res.body.resume();
    return;
  }
  if (res.status !== 200) throw await source.client.responseError(res, `signature manifest ${tag}`);
  const raw = await readStreamAtMost(res.body, 4 * 1024 * 1024, `signature manifest ${tag}`);
  let doc: { mediaType?: unknown; layers?: unknown };
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new AtomicError('IMAGE_INVALID', `signature manifest ${tag} of ${ref.domain}/${ref.path} is not JSON`);
  }
  if (doc.mediaType !== undefined && doc.mediaType !== MT.ociManifest)
    throw new AtomicError('IMAGE_INVALID', `signature manifest ${tag} has media type ${String(doc.mediaType)}, expected ${MT.ociManifest}`);
  if (!Array.isArray(doc.layers)) throw new AtomicError('IMAGE_INVALID', `signature manifest ${tag} has no layers`);
  if (doc.layers.length > MAX_SIGNATURES) throw new AtomicError('IMAGE_TOO_LARGE', `signature manifest ${tag} has more than ${MAX_SIGNATURES} layers`);
  for (const l of doc.layers as Array<Record<string, unknown>>) {
    if (l?.mediaType !== SIGSTORE_LAYER_MEDIATYPE) continue;
    const ann = l.annotations as Record<string, unknown> | undefined;
    const sig = ann?.[SIGSTORE_SIGNATURE_ANNOTATION];
    if (typeof sig !== 'string' || typeof l.digest !== 'string' || typeof l.size !== 'number') continue;
    if (l.size > MAX_SIGNATURE) throw new AtomicError('IMAGE_TOO_LARGE', `sigstore payload ${l.digest} is larger than ${MAX_SIGNATURE} bytes`);
    const blob = await source.getBlob({ mediaType: SIGSTORE_LAYER_MEDIATYPE, digest: l.digest as Digest, size: l.size });
    into.sigstore.push({ payload: await readStreamAtMost(blob, MAX_SIGNATURE, `sigstore payload ${l.digest}`), signature: sig });
  }
}
