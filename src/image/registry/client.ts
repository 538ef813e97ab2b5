/**
 * A Docker Registry HTTP API v2 / OCI distribution client for one registry and repository:
 * the `/v2/` probe (which also picks HTTPS or, where allowed, plain HTTP), Basic and Bearer
 * authentication (tokens cached per scope until they expire), bounded retries with backoff for
 * network errors, 429 and 5xx, and errors that name the image and the registry.
 */
import { AtomicError, isAtomicError } from '../../util/errors.js';
import { isJsonObject, parseJson, readStreamAtMost } from '../../util/bounded-read.js';
import { HttpClient, RedirectError, isCertError, isNetworkError, isTlsProtocolError, type HttpResponse, type TlsSettings } from './http.js';
import { parseWwwAuthenticate, type Challenge } from './www-authenticate.js';
import type { Credentials } from './credentials.js';
import { atomicEnv } from '../../util/env.js';

export interface RegistryClientOptions {
  /** `host[:port]` as written in the image name. */
  host: string;
  /** Repository path on the registry (`library/` added for Docker Hub). */
  repository: string;
  /** For messages: the image as the user named it. */
  image: string;
  tls: TlsSettings;
  /** Plain HTTP may be used when HTTPS is not spoken by the server. */
  allowHttp: boolean;
  creds: Credentials | null;
  /** Retry attempts after the first (default 3, `$ATOMIC_REGISTRY_RETRIES`). */
  retries?: number;
  /** First backoff delay in ms, doubled each time (default 200, `$ATOMIC_REGISTRY_RETRY_DELAY_MS`). */
  retryDelayMs?: number;
}

interface Token {
  value: string;
  expires: number;
}

const MAX_ERROR_BODY = 64 * 1024;
const MAX_TOKEN_BODY = 1024 * 1024;

/** Docker Hub's API host and its implicit `library/` namespace. */
export function apiHostAndRepo(host: string, repository: string): { apiHost: string; repository: string } {
  if (host === 'docker.io' || host === 'index.docker.io') {
    return { apiHost: 'registry-1.docker.io', repository: repository.includes('/') ? repository : `library/${repository}` };
  }
  return { apiHost: host, repository };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class RegistryClient {
  readonly host: string;
  readonly repository: string;
  private readonly apiHost: string;
  private readonly image: string;
  private readonly http: HttpClient;
  private readonly opts: RegistryClientOptions;
  private base: URL | null = null;
  private challenge: Challenge | null = null;
  private readonly tokens = new Map<string, Token>();
  private pinging: Promise<void> | null = null;
  private readonly retries: number;
  private readonly retryDelay: number;

  constructor(opts: RegistryClientOptions) {
    this.opts = opts;
    const a = apiHostAndRepo(opts.host, opts.repository);
    this.host = opts.host;
    this.apiHost = a.apiHost;
    this.repository = a.repository;
    this.image = opts.image;
    this.http = new HttpClient(() => opts.tls);
    const envRetries = atomicEnv('ATOMIC_REGISTRY_RETRIES');
    this.retries = opts.retries ?? (envRetries !== undefined && /^\d+$/.test(envRetries) ? Number(envRetries) : 3);
    const envDelay = atomicEnv('ATOMIC_REGISTRY_RETRY_DELAY_MS');
    this.retryDelay = opts.retryDelayMs ?? (envDelay !== undefined && /^\d+$/.test(envDelay) ? Number(envDelay) : 200);
  }

  /** `https://host` or `http://host`, known after ping(). */
  get baseUrl(): string | null {
    return this.base ? this.base.origin : null;
  }

  close(): void {
    this.http.close();
  }

  // ---- errors ------------------------------------------------------------------------------

  private netError(e: unknown, url: URL): AtomicError {
    if (isAtomicError(e)) return e;
    const msg = e instanceof Error ? e.message : String(e);
    if (isCertError(e)) {
      return new AtomicError('PERMISSION', `TLS certificate of registry ${this.host} not trusted (pulling ${this.image}): ${msg}`, {
        ref: this.image,
        cause: e,
        suggestions: [
          `Put the registry's CA certificate in /etc/containers/certs.d/${this.host}/ca.crt, or pass --cert-dir DIR with a ca.crt.`,
          'For a registry you trust without TLS verification: --tls-verify=false (or the http: prefix).',
        ],
      });
    }
    if (isTlsProtocolError(e)) {
      return new AtomicError('IO', `registry ${this.host} does not speak TLS at ${url.origin} (pulling ${this.image}): ${msg}`, {
        ref: this.image,
        cause: e,
        suggestions: ['If the registry serves plain HTTP, use --tls-verify=false, the http: prefix, or mark it insecure in /etc/containers/registries.conf.'],
      });
    }
    if (e instanceof RedirectError) return new AtomicError('IO', `registry ${this.host} (pulling ${this.image}): ${msg}`, { ref: this.image, cause: e });
    return new AtomicError('IO', `cannot reach registry ${this.host} at ${url.origin} (pulling ${this.image}): ${msg}`, {
      ref: this.image,
      cause: e,
      suggestions: ['Check that the registry is running and reachable, and the host and port in the image name.'],
    });
  }

  /** Turn a non-2xx response into an AtomicError (reads a bounded error body). */
  async responseError(res: HttpResponse, what: string): Promise<AtomicError> {
    let detail = '';
    try {
      const raw = await readStreamAtMost(res.body, MAX_ERROR_BODY, 'registry error body');
      const doc = parseJson<unknown>(raw, 'registry error body');
      if (isJsonObject(doc) && Array.isArray(doc.errors) && isJsonObject(doc.errors[0])) {
        const e0 = doc.errors[0];
        detail = [e0.code, e0.message].filter((x) => typeof x === 'string').join(': ');
      }
    } catch {
      res.body.destroy();
    }
    const tail = detail ? ` (${detail})` : '';
    switch (res.status) {
      case 401:
        return new AtomicError('PERMISSION', `unauthorized: access to ${what} of ${this.image} on registry ${this.host} was refused${tail}: check --src-creds`, {
          ref: this.image,
          suggestions: [
            this.opts.creds
              ? `The credentials from ${this.opts.creds.source} were rejected; check the user name and password.`
              : 'The registry needs credentials: pass --src-creds USER:PASSWORD or log in (auth.json / ~/.docker/config.json).',
          ],
        });
      case 403:
        return new AtomicError('PERMISSION', `denied: access to ${what} of ${this.image} on registry ${this.host} is forbidden${tail}: check --src-creds`, {
          ref: this.image,
          suggestions: ['The credentials are valid but do not allow pulling this repository.'],
        });
      case 404:
        return new AtomicError('IMAGE_NOT_FOUND', `${what === 'manifest' ? 'manifest unknown' : `${what} unknown`}: ${this.image} not found on registry ${this.host}${tail}`, {
          ref: this.image,
          suggestions: ['Check the repository name and tag (the registry answered 404).'],
        });
      default:
        return new AtomicError('IO', `registry ${this.host} answered HTTP ${res.status} for ${what} of ${this.image}${tail}`, { ref: this.image });
    }
  }

  // ---- probe and auth ----------------------------------------------------------------------

  /** `GET /v2/`: choose the scheme and learn the auth challenge. Idempotent. */
  ping(): Promise<void> {
    if (!this.pinging) {
      this.pinging = this.doPing();
      this.pinging.catch(() => {
        this.pinging = null;
      });
    }
    return this.pinging;
  }

  private async doPing(): Promise<void> {
    const schemes = this.opts.allowHttp ? ['https:', 'http:'] : ['https:'];
    const explicitPort = /:\d+$/.test(this.apiHost);
    for (const [i, scheme] of schemes.entries()) {
      const url = new URL(`${scheme}//${this.apiHost}/v2/`);
      let res: HttpResponse;
      try {
        // A server that may serve plain HTTP is first asked whether it speaks TLS at all, so that
        // a plain-HTTP registry never costs the verified context (http.ts speaksTls)
        if (scheme === 'https:' && i < schemes.length - 1 && this.opts.tls.verify && !this.opts.tls.cert && !this.opts.tls.key) {
          if (!(await this.withRetries(url, () => this.http.speaksTls(url), 'probe'))) continue;
        }
        res = await this.withRetries(url, () => this.http.request(url, { method: 'GET' }), 'probe');
      } catch (e) {
        // Fall back to plain HTTP only when the server does not speak TLS (or, without an explicit
        // port, nothing listens on 443). A certificate that fails verification is never bypassed.
        const last = i === schemes.length - 1;
        if (!last && (isTlsProtocolError(e) || (!explicitPort && isNetworkError(e)))) continue;
        throw this.netError(e, url);
      }
      res.body.resume();
      if (res.status === 401) {
        const ch = parseWwwAuthenticate(res.headers['www-authenticate']);
        this.challenge = ch.find((c) => c.scheme === 'bearer') ?? ch.find((c) => c.scheme === 'basic') ?? null;
        if (!this.challenge)
          throw new AtomicError('IO', `registry ${this.host} answered 401 to /v2/ without a usable WWW-Authenticate challenge (pulling ${this.image})`, { ref: this.image });
      } else if (res.status !== 200 && res.status !== 404) {
        // (Some registries behind proxies answer 404 at /v2/ and still serve the API.)
        throw new AtomicError('IO', `registry ${this.host} answered HTTP ${res.status} to the /v2/ probe (pulling ${this.image})`, { ref: this.image });
      }
      this.base = new URL(`${scheme}//${this.apiHost}`);
      return;
    }
  }

  private basicHeader(): string | null {
    const c = this.opts.creds;
    return c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : null;
  }

  private async token(ch: Challenge, scope: string): Promise<string> {
    const key = `${ch.params.realm}|${ch.params.service ?? ''}|${scope}`;
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.value;
    this.tokenRequests++;
    const realm = ch.params.realm;
    if (!realm) throw new AtomicError('IO', `registry ${this.host}: the Bearer challenge has no realm`, { ref: this.image });
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new AtomicError('IO', `registry ${this.host}: the Bearer realm ${JSON.stringify(realm)} is not a URL`, { ref: this.image });
    }
    if (ch.params.service) url.searchParams.set('service', ch.params.service);
    if (scope) url.searchParams.set('scope', scope);
    const headers: Record<string, string> = { Accept: 'application/json' };
    const basic = this.basicHeader();
    if (basic) headers.Authorization = basic;
    const res = await this.withRetries(url, () => this.http.request(url, { method: 'GET', headers }), 'token');
    if (res.status === 401 || res.status === 403) {
      res.body.resume();
      throw new AtomicError(
        'PERMISSION',
        `unauthorized: the token service ${url.host} refused ${this.opts.creds ? `the credentials from ${this.opts.creds.source}` : 'an anonymous token'} for ${this.image}: check --src-creds`,
        {
          ref: this.image,
          suggestions: ['Check the user name and password (--src-creds USER:PASSWORD, auth.json or ~/.docker/config.json).'],
        },
      );
    }
    if (res.status !== 200) throw await this.responseError(res, 'token');
    const raw = await readStreamAtMost(res.body, MAX_TOKEN_BODY, `token response from ${url.host}`);
    const doc = parseJson<unknown>(raw, `token response from ${url.host}`);
    const value = isJsonObject(doc) ? (typeof doc.token === 'string' && doc.token ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : '') : '';
    if (!value) throw new AtomicError('IO', `the token service ${url.host} returned no token for ${this.image}`, { ref: this.image });
    const expiresIn = isJsonObject(doc) && typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60;
    const issued =
      isJsonObject(doc) && typeof doc.issued_at === 'string' && !Number.isNaN(Date.parse(doc.issued_at)) ? Math.min(Date.parse(doc.issued_at), Date.now()) : Date.now();
    // Renew a little before the expiry so a token never runs out in flight.
    this.tokens.set(key, { value, expires: issued + Math.max(0, expiresIn - 10) * 1000 });
    return value;
  }

  /** Token requests made so far (tokens are reused until they expire). */
  tokenRequests = 0;

  /** A Bearer token for `scope` (default: pull of this repository); null without a Bearer challenge. */
  async bearerToken(scope = `repository:${this.repository}:pull`): Promise<string | null> {
    await this.ping();
    return this.challenge?.scheme === 'bearer' ? this.token(this.challenge, scope) : null;
  }

  private async authHeader(scope: string, ch: Challenge | null = this.challenge): Promise<string | null> {
    if (!ch) return null;
    if (ch.scheme === 'basic') return this.basicHeader();
    if (ch.scheme === 'bearer') return `Bearer ${await this.token(ch, scope)}`;
    return null;
  }

  private async withRetries<T extends HttpResponse | boolean>(url: URL, fn: () => Promise<T>, what: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fn();
        if (typeof res !== 'boolean' && (res.status >= 500 || res.status === 429) && attempt < this.retries) {
          res.body.resume();
          await sleep(this.retryDelay * 2 ** attempt);
          continue;
        }
        return res;
      } catch (e) {
        // A refused connection at the probe means no server: report it without waiting.
        const refusedProbe = what === 'probe' && (e as NodeJS.ErrnoException).code === 'ECONNREFUSED';
        if (isNetworkError(e) && attempt < this.retries && !refusedProbe) {
          await sleep(this.retryDelay * 2 ** attempt);
          continue;
        }
        throw e;
      }
    }
  }

  /**
   * An authenticated request to `/v2/<repo>/<path>`; on 401 with a new Bearer challenge (other
   * scope, expired token) the token is renewed once. Non-2xx responses are returned as they are.
   */
  async get(pathTail: string, init: { method?: 'GET' | 'HEAD'; headers?: Record<string, string> } = {}): Promise<HttpResponse> {
    await this.ping();
    const url = new URL(`/v2/${this.repository}/${pathTail}`, this.base!);
    const scope = `repository:${this.repository}:pull`;
    const send = async (auth: string | null): Promise<HttpResponse> => {
      const headers = { ...(init.headers ?? {}) };
      if (auth) headers.Authorization = auth;
      try {
        return await this.withRetries(url, () => this.http.request(url, { method: init.method ?? 'GET', headers }), pathTail);
      } catch (e) {
        throw this.netError(e, url);
      }
    };
    let res = await send(await this.authHeader(scope));
    if (res.status === 401 && this.challenge?.scheme === 'bearer') {
      const ch = parseWwwAuthenticate(res.headers['www-authenticate']).find((c) => c.scheme === 'bearer');
      if (ch && ch.params.realm) {
        // The token expired early or does not cover what the registry wants: ask once more,
        // for the scope the challenge names.
        this.tokens.clear();
        res.body.resume();
        res = await send(`Bearer ${await this.token(ch, ch.params.scope ?? scope)}`);
      }
    }
    return res;
  }
}
