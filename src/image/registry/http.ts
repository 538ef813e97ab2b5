/**
 * The HTTP(S) layer of the registry client, on node:http / node:https (Node's global fetch cannot
 * take per-registry CAs without the `undici` module). Keep-alive agents per origin, TLS settings
 * per host (system CAs + certs.d CAs, client certs, verification on/off), bounded redirects that
 * drop `Authorization` when they leave the origin, and an inactivity timeout on every socket.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { atomicEnv } from '../../util/env.js';
import { extraCaCertificates } from '../../util/extra-ca.js';

export interface TlsSettings {
  /** Verify the server certificate (default true). */
  verify: boolean;
  /** Extra CA certificates (PEM), added to the system roots. */
  ca: Buffer[];
  /** Client certificate and key (PEM), from certs.d `*.cert` / `*.key`. */
  cert?: Buffer;
  key?: Buffer;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** Follow at most this many redirects (default 10). */
  maxRedirects?: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  /** The final URL (after redirects). */
  url: URL;
}

export const DEFAULT_TIMEOUT_MS = 60_000;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export class RedirectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedirectError';
  }
}

const MIN_BYTES_PER_WINDOW = 1024;

/**
 * The TLS options of one origin's agent, with one secure context per agent (handed `ca`, node
 * would parse every root certificate again for each connection). What it trusts:
 * - verification on: the system roots, extended by the NODE_EXTRA_CA_CERTS file (util/extra-ca.ts:
 *   node's default store holds it unless bin/run.js deferred it) and the host's certs.d CAs. Only
 *   the certificates that are not already system roots are parsed and added (`contextWithRoots`): the
 *   roots themselves are parsed once per process by node, where a `ca` list of roots + extras
 *   parsed all of them again (~140 certificates, ~70 ms here, for every pull that opened HTTPS).
 * - verification off (`--tls-verify=false`, registries.conf `insecure`): no trust store at all
 *   (none is consulted), only the client certificate.
 */
export function tlsOptions(t: TlsSettings): https.AgentOptions {
  if (!t.verify) {
    return { rejectUnauthorized: false, secureContext: tls.createSecureContext({ ca: [], cert: t.cert, key: t.key }) };
  }
  const extra = extraCaCertificates();
  const add = [...(extra.deferred || t.ca.length > 0 ? extra.pem : []), ...t.ca.map((b) => b.toString('utf8'))];
  if (add.length === 0 && !t.cert && !t.key) return { rejectUnauthorized: true };
  return { rejectUnauthorized: true, secureContext: contextWithRoots(add, t.cert, t.key) };
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/** Node's roots by their base64 body (the key that compares two certificates), built once. */
let rootBodies: Set<string> | undefined;

/**
 * A secure context trusting node's roots and `pems`: created without `ca` (its store is node's
 * roots, parsed once per process), then each certificate of `pems` that is not a root is added
 * with SecureContext#addCACert, the call node's own `ca` option makes per certificate (on a
 * context holding the roots node first copies them, already parsed). Where a node has no such
 * method, the roots and the extras are handed over as `ca`, as before.
 */
function contextWithRoots(pems: string[], cert?: Buffer, key?: Buffer): tls.SecureContext {
  const sc = tls.createSecureContext({ cert, key });
  if (pems.length === 0) return sc;
  const native = (sc as unknown as { context?: { addCACert?: (pem: string) => void } }).context;
  if (typeof native?.addCACert !== 'function') return tls.createSecureContext({ ca: [...tls.rootCertificates, ...pems], cert, key });
  rootBodies ??= new Set(tls.rootCertificates.flatMap((r) => [...r.matchAll(CERT_BLOCK)].map((m) => m[1]!.replace(/\s+/g, ''))));
  for (const pem of pems) {
    // other PEM blocks (TRUSTED CERTIFICATE) go in as they are
    if (/-----BEGIN (?!CERTIFICATE-----)[A-Z ]*CERTIFICATE-----/.test(pem)) {
      native.addCACert(pem);
      continue;
    }
    for (const m of pem.matchAll(CERT_BLOCK)) if (!rootBodies.has(m[1]!.replace(/\s+/g, ''))) native.addCACert(m[0]);
  }
  return sc;
}

let probeContext: tls.SecureContext | undefined;

/**
 * Whether the server at `url` (host and port) speaks TLS: one handshake that trusts nothing and
 * checks nothing (no store is built, nothing is sent after it), then the socket is closed. The
 * registry client asks this before its first HTTPS request to a server that may serve plain HTTP
 * (a loopback registry): building the trust store costs more than the handshake, and a plain-HTTP
 * server never needs it. Rejects with the socket error when nothing answers.
 */
export function speaksTls(url: URL, timeoutMs: number = DEFAULT_TIMEOUT_MS): Promise<boolean> {
  // a context with an empty store, made once: nothing is verified on this connection
  probeContext ??= tls.createSecureContext({ ca: [] });
  const secureContext = probeContext;
  return new Promise<boolean>((resolve, reject) => {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const sock = tls.connect({
      host,
      port: Number(url.port || 443),
      servername: net.isIP(host) === 0 ? host : undefined,
      secureContext,
      rejectUnauthorized: false,
    });
    sock.setTimeout(timeoutMs, () => {
      const e = new Error(`no data from ${url.host} for ${timeoutMs} ms`) as NodeJS.ErrnoException;
      e.code = 'ETIMEDOUT';
      sock.destroy(e);
    });
    sock.once('secureConnect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', (e) => {
      sock.destroy();
      if (isTlsProtocolError(e)) resolve(false);
      else reject(e);
    });
  });
}

export class HttpClient {
  private readonly agents = new Map<string, http.Agent>();
  private readonly tlsFor: (host: string) => TlsSettings;
  private readonly timeoutMs: number;
  private readonly userAgent: string;

  constructor(tlsFor: (host: string) => TlsSettings, opts: { timeoutMs?: number; userAgent?: string } = {}) {
    this.tlsFor = tlsFor;
    this.timeoutMs = opts.timeoutMs ?? (Number(atomicEnv('ATOMIC_REGISTRY_TIMEOUT_MS')) || DEFAULT_TIMEOUT_MS);
    this.userAgent = opts.userAgent ?? 'atomic-sc/0.1';
  }

  private agentFor(url: URL): http.Agent {
    const key = `${url.protocol}//${url.host}`;
    let a = this.agents.get(key);
    if (!a) {
      if (url.protocol === 'https:') {
        a = new https.Agent({ keepAlive: true, maxSockets: 16, ...tlsOptions(this.tlsFor(url.host)) });
      } else {
        a = new http.Agent({ keepAlive: true, maxSockets: 16 });
      }
      this.agents.set(key, a);
    }
    return a;
  }

  private once(url: URL, method: string, headers: Record<string, string>): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(url, { method, headers: { 'User-Agent': this.userAgent, ...headers }, agent: this.agentFor(url) });
      req.setTimeout(this.timeoutMs, () => {
        const e = new Error(`no data from ${url.host} for ${this.timeoutMs} ms`) as NodeJS.ErrnoException;
        e.code = 'ETIMEDOUT';
        req.destroy(e);
      });
      req.on('error', reject);
      req.on('response', (res) => {
        this.guardRate(res, url);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
      });
      req.end();
    });
  }

  /**
   * Slow-loris guard: besides the per-socket inactivity timeout, a body must deliver at least
   * MIN_BYTES_PER_WINDOW bytes in every window of `timeoutMs` (default 1 KiB per 60 s), so a
   * server that drips bytes just often enough to stay "active" cannot hold a pull forever.
   */
  private guardRate(res: http.IncomingMessage, url: URL): void {
    const minBytes = Number(atomicEnv('ATOMIC_REGISTRY_MIN_BYTES_PER_WINDOW')) || MIN_BYTES_PER_WINDOW;
    // count at the socket: listening for 'data' here would start the flow before the caller reads
    const sock = res.socket;
    let last = sock?.bytesRead ?? 0;
    const timer = setInterval(() => {
      const now = sock?.bytesRead ?? 0;
      // unread data in our buffer means the consumer is the slow side (backpressure): not the server's fault
      if (now - last < minBytes && !res.complete && res.readableLength === 0 && !res.destroyed) {
        const e = new Error(`transfer from ${url.host} too slow: ${now - last} bytes in ${this.timeoutMs} ms (at least ${minBytes} expected)`) as NodeJS.ErrnoException;
        e.code = 'ETIMEDOUT';
        res.destroy(e);
      }
      last = now;
    }, this.timeoutMs);
    timer.unref();
    const stop = () => clearInterval(timer);
    res.on('end', stop);
    res.on('close', stop);
    res.on('error', stop);
  }

  /** Whether the server of `url` speaks TLS (see speaksTls), within this client's socket timeout. */
  speaksTls(url: URL): Promise<boolean> {
    return speaksTls(url, this.timeoutMs);
  }

  /** One request, following redirects. The caller must consume or destroy `body`. */
  async request(url: URL, r: HttpRequest): Promise<HttpResponse> {
    let cur = url;
    let headers = { ...(r.headers ?? {}) };
    const max = r.maxRedirects ?? 10;
    for (let hop = 0; ; hop++) {
      const res = await this.once(cur, r.method, headers);
      if (!REDIRECTS.has(res.status)) return res;
      res.body.resume();
      const loc = res.headers.location;
      if (!loc) throw new RedirectError(`${cur.host} answered ${res.status} without a Location header`);
      if (hop >= max) throw new RedirectError(`too many redirects (more than ${max}) from ${url.href}`);
      const next = new URL(loc, cur);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new RedirectError(`redirect to an unsupported URL scheme: ${next.protocol}`);
      if (cur.protocol === 'https:' && next.protocol === 'http:' && next.hostname !== cur.hostname) {
        throw new RedirectError(`refusing a redirect from HTTPS to plain HTTP (${next.host})`);
      }
      if (next.origin !== cur.origin) {
        // Credentials are for the registry only (blob redirects go to signed storage URLs).
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
      }
      cur = next;
    }
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

const TLS_PROTOCOL_CODES = new Set(['EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST', 'ERR_SSL_UNKNOWN_PROTOCOL']);
const CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
]);

/** The server does not speak TLS (a plain-HTTP registry answered our ClientHello). */
export function isTlsProtocolError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && (TLS_PROTOCOL_CODES.has(code) || /wrong version number|packet length too long|http request/i.test(String((e as Error).message)));
}

/** The server's certificate was not accepted. */
export function isCertError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && CERT_CODES.has(code);
}

const NET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** A transient network failure worth retrying. */
export function isNetworkError(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException | undefined;
  if (!err || typeof err !== 'object') return false;
  if (typeof err.code === 'string' && NET_CODES.has(err.code)) return true;
  return /socket hang up|aborted/i.test(String(err.message));
}
