/**
 * `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]` (and atomic's bare `NAME`, `oci:NAME`, `http:NAME`,
 * `https:NAME`) as an ImageSource: the manifest (GET with every Accept type we support; an index or
 * manifest list is resolved for the platform), and blobs streamed through digest and size checks.
 * See docs/registries.md for name resolution, credentials, TLS and plain-HTTP rules.
 */
import { resumableBlob } from './blob-resume.js';
import { Transform, type TransformCallback } from 'node:stream';
import { createHash } from 'node:crypto';
import { AtomicError } from '../../util/errors.js';
import { LIMITS, readStreamAtMost, tooLarge } from '../../util/bounded-read.js';
import { MT, parseManifest, selectPlatform } from '../manifest.js';
import { parseImageName } from '../name.js';
import { parseDigest, sizeMismatch, verifyBuffer } from '../digest.js';
import { verifyStream } from '../verified-stream.js';
import { RegistryClient } from './client.js';
import { findCredentials } from './credentials.js';
import { findRegistryEntry, loadRegistriesConf } from './registries-conf.js';
import { isLoopbackHost, tlsSettingsFor } from './tls-config.js';
import type { Descriptor, ImageSource, Platform, SourceManifest } from '../source.js';
import type { RegistryReference } from '../reference.js';
import type { Digest } from '../../store/types.js';
import { atomicEnv } from '../../util/env.js';

/** Every manifest type we can use, always sent together (a registry then never converts to schema1). */
export const MANIFEST_ACCEPT = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerManifestList].join(', ');
const MAX_INDEX_DEPTH = 4;

export interface RegistrySourceOptions {
  /** `--src-creds USER[:PASS]`. */
  creds?: string;
  /** `--tls-verify`: undefined = default rules, false = no verification (and plain HTTP allowed). */
  tlsVerify?: boolean;
  /** `--cert-dir DIR` (instead of certs.d). */
  certDir?: string;
}

export interface OpenRegistryOptions extends RegistrySourceOptions {
  platform?: Partial<Platform>;
  onWarning?(msg: string): void;
}

export function notFullyQualifiedWarning(name: string): string {
  return `The image \`${name}\` is not fully qualified.  The default registry configured for Skopeo will be used.`;
}

/** Where a registry reference points: host, repository, tag/digest, stored name, TLS rules. */
export interface ResolvedRegistryImage {
  host: string;
  repository: string;
  tag: string;
  digest?: string;
  /** The name the image is stored under (as the user wrote it, tag added). */
  storedName: string;
  /** `host/repository:tag` (or `@digest`). */
  display: string;
  verifyTls: boolean;
  allowHttp: boolean;
  qualified: boolean;
}

export function resolveRegistryImage(ref: RegistryReference, opts: OpenRegistryOptions = {}): ResolvedRegistryImage {
  const p = parseImageName(ref.digest ? `${ref.name}@${ref.digest}` : ref.name);
  const conf = loadRegistriesConf();
  let host = p.registry;
  let repository = p.repository;
  const qualified = host !== '';
  if (!qualified) {
    opts.onWarning?.(notFullyQualifiedWarning(ref.raw.replace(/^(docker:\/\/|oci:|https?:(\/\/)?)/, '')));
    const def = conf.unqualifiedSearch[0];
    if (!def) {
      throw new AtomicError('USAGE', `The image \`${p.full}\` is not fully qualified and no default registry is configured (unqualified-search-registries in ${conf.files[0] ?? (process.env.CONTAINERS_REGISTRIES_CONF || '/etc/containers/registries.conf')})`, {
        ref: ref.raw,
        suggestions: ['Use a fully qualified name such as docker://registry.example.com/repo/image:tag.', 'Or set unqualified-search-registries = ["registry.example.com"] in /etc/containers/registries.conf.'],
      });
    }
    const [defHost, ...ns] = def.split('/');
    host = defHost!;
    repository = [...ns, repository].join('/');
  } else {
    repository = repository.slice(host.length + 1);
  }
  const entry = findRegistryEntry(conf, `${host}/${repository}`);
  if (entry?.blocked) {
    throw new AtomicError('PERMISSION', `registry ${host} is blocked in registries.conf (pulling ${ref.raw})`, { ref: ref.raw });
  }
  // containers-registries.conf(5): `location` replaces the matched `prefix` (a mirror or a rename)
  if (entry && !entry.prefix.startsWith('*.') && entry.location !== '' && entry.location !== entry.prefix) {
    const p0 = entry.prefix.replace(/\/+$/, '');
    const moved = entry.location.replace(/\/+$/, '') + `${host}/${repository}`.slice(p0.length);
    const slash = moved.indexOf('/');
    if (slash > 0) {
      host = moved.slice(0, slash);
      repository = moved.slice(slash + 1);
    }
  }
  const insecure = ref.insecure || opts.tlsVerify === false || entry?.insecure === true;
  const verifyTls = !insecure;
  const allowHttp = insecure || (opts.tlsVerify === undefined && isLoopbackHost(host));
  const display = `${host}/${repository}${p.digest ? `@${p.digest}` : `:${p.tag}`}`;
  return { host, repository, tag: p.tag, digest: p.digest, storedName: p.full, display, verifyTls, allowHttp, qualified };
}

/** Test-only fault point: `ATOMIC_FAULT_REGISTRY_STALL=<digest>` streams half of that blob, then stalls. */
class StallHalfway extends Transform {
  private seen = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    const room = this.limit - this.seen;
    if (room <= 0) {
      // Never call back: the pull hangs here (kept alive by a timer) until it is killed.
      setInterval(() => {}, 60_000);
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.seen += part.length;
    this.push(part);
    if (this.seen >= this.limit) {
      setInterval(() => {}, 60_000);
      return;
    }
    cb();
  }
}

export class RegistrySource implements ImageSource {
  readonly description: string;
  readonly imageName: string;
  readonly client: RegistryClient;
  private readonly img: ResolvedRegistryImage;
  private readonly platform: Partial<Platform>;
  private resolved?: Promise<SourceManifest>;
  /** The manifest as first fetched (an index when the image was picked from one): what signatures sign. */
  private top?: { raw: Buffer; digest: Digest };
  /** Told about each resumed blob download. */
  onWarning?: (msg: string) => void;

  constructor(img: ResolvedRegistryImage, client: RegistryClient, platform: Partial<Platform> = {}) {
    this.img = img;
    this.client = client;
    this.platform = platform;
    this.description = `docker://${img.display}`;
    this.imageName = img.storedName;
  }

  getManifest(): Promise<SourceManifest> {
    if (!this.resolved) this.resolved = this.resolve();
    return this.resolved;
  }

  /** Where the image lives (host, repository, tag/digest), for signature lookups. */
  get resolvedImage(): ResolvedRegistryImage {
    return this.img;
  }

  /** The top-level manifest (index or image manifest) as fetched by getManifest(). */
  async topLevelManifest(): Promise<{ raw: Buffer; digest: Digest }> {
    const m = await this.getManifest();
    return this.top ?? { raw: m.raw, digest: m.digest };
  }

  /** GET a manifest by tag or digest; checks the digest when asked by digest. */
  async fetchManifest(reference: string, expect?: Descriptor): Promise<{ raw: Buffer; digest: Digest; contentType?: string }> {
    const what = `manifest ${this.img.host}/${this.img.repository}:${reference}`;
    const res = await this.client.get(`manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } });
    if (res.status !== 200) throw await this.client.responseError(res, 'manifest');
    const len = Number(res.headers['content-length']);
    if (Number.isFinite(len) && len > LIMITS.manifest) {
      res.body.destroy();
      throw tooLarge(what, LIMITS.manifest, len);
    }
    const raw = await readStreamAtMost(res.body, LIMITS.manifest, what);
    const digest = `sha256:${createHash('sha256').update(raw).digest('hex')}` as Digest;
    if (expect) verifyBuffer(raw, expect.digest, expect.size, what);
    else if (reference.includes(':')) verifyBuffer(raw, reference, undefined, what);
    const ct = res.headers['content-type']?.split(';')[0]?.trim();
    return { raw, digest, contentType: ct };
  }

  private async resolve(): Promise<SourceManifest> {
    let reference = this.img.digest ?? this.img.tag;
    let expect: Descriptor | undefined;
    for (let depth = 0; depth < MAX_INDEX_DEPTH; depth++) {
      const got = await this.fetchManifest(reference, expect);
      if (depth === 0) this.top = { raw: got.raw, digest: got.digest };
      const what = `manifest ${this.img.display}${depth ? ` (${reference})` : ''}`;
      // The document's own mediaType wins; the Content-Type is only a hint (many registries
      // answer with a generic type for OCI manifests without one).
      const known = got.contentType && /^application\/vnd\.(oci|docker)\./.test(got.contentType) ? got.contentType : undefined;
      let m;
      try {
        m = parseManifest(got.raw, what, expect?.mediaType ?? known);
      } catch (e) {
        if (expect?.mediaType === undefined && known !== undefined) m = parseManifest(got.raw, what, undefined);
        else throw e;
      }
      if (m.kind === 'manifest') return { raw: got.raw, digest: got.digest, mediaType: m.mediaType, config: m.config, layers: m.layers };
      const pick = selectPlatform(m, this.platform, `${what} (${m.mediaType === MT.dockerManifestList ? 'manifest list' : 'image index'})`);
      reference = pick.digest;
      expect = pick;
    }
    throw new AtomicError('IMAGE_INVALID', `${this.img.display}: indexes nested more than ${MAX_INDEX_DEPTH} deep`, { ref: this.img.display });
  }

  async getBlob(d: Descriptor): Promise<NodeJS.ReadableStream> {
    parseDigest(d.digest);
    const res = await this.client.get(`blobs/${d.digest}`);
    if (res.status !== 200) throw await this.client.responseError(res, `blob ${d.digest}`);
    const len = res.headers['content-length'];
    if (len !== undefined && /^\d+$/.test(len) && Number(len) !== d.size) {
      res.body.destroy();
      throw sizeMismatch(d.digest, d.size, `${len} (Content-Length from ${this.img.host})`, `blob of ${this.img.display}`);
    }
    const what = `blob ${d.digest} of ${this.img.display}`;
    const reopen = async (from: number) => this.client.get(`blobs/${d.digest}`, { headers: { Range: `bytes=${from}-` } });
    let body: NodeJS.ReadableStream = resumableBlob(res, d.size, what, reopen, this.onWarning);
    if (atomicEnv('ATOMIC_FAULT_REGISTRY_STALL') === d.digest) body = res.body.pipe(new StallHalfway(Math.floor(d.size / 2)));
    return verifyStream(body, d.digest, d.size, `blob of ${this.img.display}`);
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

export async function openRegistrySource(ref: RegistryReference, opts: OpenRegistryOptions = {}): Promise<RegistrySource> {
  const img = resolveRegistryImage(ref, opts);
  const client = new RegistryClient({
    host: img.host,
    repository: img.repository,
    image: img.display,
    tls: tlsSettingsFor(img.host, img.verifyTls, opts.certDir),
    allowHttp: img.allowHttp,
    creds: findCredentials(img.host, img.repository, opts.creds),
  });
  const source = new RegistrySource(img, client, opts.platform);
  source.onWarning = opts.onWarning;
  return source;
}
