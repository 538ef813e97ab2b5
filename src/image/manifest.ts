/**
 * Parse and validate image manifests and indexes: OCI image manifest, OCI image index, Docker
 * schema2 manifest and manifest list. `mediaType` is optional (umoci omits it); the kind is then
 * taken from the descriptor that pointed here or from the document's shape. Unknown media types →
 * IMAGE_UNSUPPORTED_MEDIATYPE; Docker schema1 → IMAGE_UNSUPPORTED.
 */
import { AtomicError } from '../util/errors.js';
import { isJsonObject, parseJson } from '../util/bounded-read.js';
import { parseDigest } from './digest.js';
import type { Descriptor, Platform } from './source.js';
import type { Digest } from '../store/types.js';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondist: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type LayerCompression = 'none' | 'gzip' | 'zstd';

const LAYER_TYPES: Record<string, LayerCompression> = {
  [MT.ociLayer]: 'none',
  [MT.ociLayerGzip]: 'gzip',
  [MT.ociLayerZstd]: 'zstd',
  [MT.dockerLayer]: 'none',
  [MT.dockerLayerGzip]: 'gzip',
};
const FOREIGN_LAYER_TYPES = new Set<string>([MT.dockerForeignLayerGzip, MT.ociLayerNondist, MT.ociLayerNondistGzip, MT.ociLayerNondistZstd]);
const CONFIG_TYPES = new Set<string>([MT.ociConfig, MT.dockerConfig]);
const MANIFEST_TYPES = new Set<string>([MT.ociManifest, MT.dockerManifest]);
const INDEX_TYPES = new Set<string>([MT.ociIndex, MT.dockerManifestList]);

export interface PlatformDescriptor extends Descriptor {
  platform?: Platform & { 'os.version'?: string; 'os.features'?: string[] };
}

export interface ImageManifest {
  kind: 'manifest';
  /** The declared (or implied) media type. */
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}
export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: PlatformDescriptor[];
  annotations?: Record<string, string>;
}
export type ParsedManifest = ImageManifest | ImageIndex;

function invalid(what: string, problem: string): AtomicError {
  return new AtomicError('IMAGE_INVALID', `${what}: ${problem}`, { ref: what, suggestions: ['The image source is corrupt; rebuild or re-export the image.'] });
}

function unsupportedMediaType(what: string, mt: string, role: string): AtomicError {
  return new AtomicError('IMAGE_UNSUPPORTED_MEDIATYPE', `${what}: unsupported ${role} media type "${mt}"`, {
    ref: what,
    suggestions: ['Only OCI and Docker schema2 container images (tar, tar+gzip, tar+zstd layers) can be pulled.'],
  });
}

function annotationsOf(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isJsonObject(v) || Object.values(v).some((x) => typeof x !== 'string')) throw invalid(what, 'annotations must be a map of strings');
  return v as Record<string, string>;
}

/** Validate one descriptor (mediaType string, digest, non-negative safe integer size). */
export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isJsonObject(v)) throw invalid(what, 'descriptor is not an object');
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(what, 'descriptor has no mediaType');
  if (typeof digest !== 'string') throw invalid(what, 'descriptor has no digest');
  parseDigest(digest, what);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(what, `descriptor ${digest} has an invalid size ${JSON.stringify(size)}`);
  const d: Descriptor = { mediaType, digest: digest as Digest, size };
  const ann = annotationsOf(v.annotations, what);
  if (ann) d.annotations = ann;
  return d;
}

/** The compression of an accepted layer media type; refuses foreign and unknown layers. */
export function layerCompression(d: Descriptor, what = 'layer'): LayerCompression {
  const c = LAYER_TYPES[d.mediaType];
  if (c) return c;
  if (FOREIGN_LAYER_TYPES.has(d.mediaType)) {
    throw new AtomicError('IMAGE_UNSUPPORTED', `${what} ${d.digest} is a foreign (non-distributable) layer of type "${d.mediaType}", which cannot be pulled`, {
      ref: d.digest,
      suggestions: ['Foreign layers (e.g. Windows base layers) are not supported by system containers; use a Linux image with ordinary layers.'],
    });
  }
  throw unsupportedMediaType(what, d.mediaType, `layer ${d.digest}`);
}

function detectKind(doc: Record<string, unknown>, declared: string | undefined, what: string): 'manifest' | 'index' {
  if (doc.schemaVersion === 1 || declared === MT.dockerSchema1 || declared === MT.dockerSchema1Signed) {
    throw new AtomicError('IMAGE_UNSUPPORTED', `${what}: Docker schema1 manifests are not supported`, { ref: what, suggestions: ['Re-push or re-save the image with a current tool to get a schema2 or OCI manifest.'] });
  }
  if (doc.schemaVersion !== 2) throw invalid(what, `schemaVersion must be 2, got ${JSON.stringify(doc.schemaVersion)}`);
  if (declared !== undefined) {
    if (MANIFEST_TYPES.has(declared)) return 'manifest';
    if (INDEX_TYPES.has(declared)) return 'index';
    throw unsupportedMediaType(what, declared, 'manifest');
  }
  if (Array.isArray(doc.manifests)) return 'index';
  if (doc.config !== undefined || Array.isArray(doc.layers)) return 'manifest';
  throw invalid(what, 'neither an image manifest (config, layers) nor an index (manifests)');
}

/**
 * Parse raw manifest bytes. `descriptorMediaType` is the media type of the descriptor that pointed
 * here (index entry, HTTP Content-Type); when both it and the document's own are present they must agree.
 */
export function parseManifest(raw: Buffer | string, what = 'manifest', descriptorMediaType?: string): ParsedManifest {
  const doc = parseJson<unknown>(raw, what);
  if (!isJsonObject(doc)) throw invalid(what, 'not a JSON object');
  const own = doc.mediaType;
  if (own !== undefined && typeof own !== 'string') throw invalid(what, 'mediaType must be a string');
  if (own !== undefined && descriptorMediaType !== undefined && own !== descriptorMediaType) {
    throw invalid(what, `its mediaType "${own}" differs from the descriptor's "${descriptorMediaType}"`);
  }
  const declared = (own as string | undefined) ?? descriptorMediaType;
  const kind = detectKind(doc, declared, what);
  const annotations = annotationsOf(doc.annotations, what);
  if (kind === 'index') {
    if (!Array.isArray(doc.manifests)) throw invalid(what, 'index has no manifests list');
    const manifests = doc.manifests.map((m, i) => {
      const d: PlatformDescriptor = parseDescriptor(m, `${what} manifests[${i}]`);
      const p = (m as Record<string, unknown>).platform;
      if (p !== undefined) {
        if (!isJsonObject(p) || typeof p.os !== 'string' || typeof p.architecture !== 'string') throw invalid(what, `manifests[${i}].platform needs os and architecture strings`);
        d.platform = { os: p.os, architecture: p.architecture };
        if (typeof p.variant === 'string') d.platform.variant = p.variant;
      }
      return d;
    });
    return { kind, mediaType: declared ?? MT.ociIndex, manifests, ...(annotations ? { annotations } : {}) };
  }
  const config = parseDescriptor(doc.config, `${what} config`);
  if (!CONFIG_TYPES.has(config.mediaType)) throw unsupportedMediaType(what, config.mediaType, 'config');
  if (!Array.isArray(doc.layers)) throw invalid(what, 'manifest has no layers list');
  const layers = doc.layers.map((l, i) => {
    const d = parseDescriptor(l, `${what} layers[${i}]`);
    layerCompression(d, `${what} layers[${i}]`);
    return d;
  });
  return { kind, mediaType: declared ?? MT.ociManifest, config, layers, ...(annotations ? { annotations } : {}) };
}

const ARCH: Record<string, { architecture: string; variant?: string }> = {
  x64: { architecture: 'amd64' },
  arm64: { architecture: 'arm64' },
  arm: { architecture: 'arm', variant: 'v7' },
  ia32: { architecture: '386' },
  ppc64: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
  mips: { architecture: 'mips' },
  mipsel: { architecture: 'mipsle' },
  loong64: { architecture: 'loong64' },
};

/** The host platform in OCI terms (process.arch → GOARCH names; os linux). */
export function hostPlatform(): Platform {
  const a = ARCH[process.arch] ?? { architecture: process.arch };
  const p: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: a.architecture };
  if (a.variant) p.variant = a.variant;
  return p;
}

function fmtPlatform(p: Partial<Platform> | undefined): string {
  if (!p) return 'unknown';
  return `${p.os ?? '?'}/${p.architecture ?? '?'}${p.variant ? `/${p.variant}` : ''}`;
}

/**
 * Pick the entry of an index for a platform (default: the host's). A requested variant must
 * match; without one, an entry without variant (or arm64 `v8`) is preferred over others.
 * Entries that are not image manifests or indexes (attestations, artifacts) are ignored.
 */
export function selectPlatform(index: ImageIndex, want: Partial<Platform> = {}, what = 'index'): PlatformDescriptor {
  const host = hostPlatform();
  const os = want.os ?? host.os;
  const architecture = want.architecture ?? host.architecture;
  const variant = want.variant ?? (want.architecture === undefined ? host.variant : undefined);
  const usable = index.manifests.filter((m) => MANIFEST_TYPES.has(m.mediaType) || INDEX_TYPES.has(m.mediaType));
  const matching = usable.filter((m) => m.platform && m.platform.os === os && m.platform.architecture === architecture);
  let pick: PlatformDescriptor | undefined;
  if (want.variant !== undefined) {
    pick = matching.find((m) => m.platform!.variant === want.variant);
  } else {
    const defaultVariant = architecture === 'arm64' ? 'v8' : variant;
    pick =
      matching.find((m) => m.platform!.variant === undefined || m.platform!.variant === defaultVariant) ??
      matching.find((m) => variant !== undefined && m.platform!.variant === variant) ??
      matching[0];
  }
  if (!pick) {
    const avail = usable.map((m) => fmtPlatform(m.platform)).join(', ') || 'none';
    throw new AtomicError('IMAGE_NOT_FOUND', `${what} has no image for ${fmtPlatform({ os, architecture, variant: want.variant })} (available: ${avail})`, {
      ref: what,
      suggestions: ['Use an image built for this platform, or choose another platform explicitly.'],
    });
  }
  return pick;
}

export function isIndexMediaType(mt: string): boolean {
  return INDEX_TYPES.has(mt);
}
export function isManifestMediaType(mt: string): boolean {
  return MANIFEST_TYPES.has(mt);
}
