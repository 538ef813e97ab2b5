/**
 * The one interface every image transport implements (containers/image `types.ImageSource`):
 * the pull logic in src/app/pull.ts is written once against it and never imports a transport.
 */
import type { Digest } from '../store/types.js';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface SourceManifest {
  /** The raw manifest bytes, exactly as stored by the source. */
  raw: Buffer;
  /** sha256 of `raw`. */
  digest: Digest;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageSource {
  /** Human-readable, e.g. "oci:/tmp/fx/oci:systest". */
  readonly description: string;
  /** Name to store the image under (atomic's derivation), e.g. "systest:latest". */
  readonly imageName: string;
  /** The (platform-resolved) image manifest, its raw bytes and digest (of the raw bytes). */
  getManifest(): Promise<SourceManifest>;
  /**
   * Blob stream, verified against digest and size: the stream fails with DIGEST_MISMATCH /
   * SIZE_MISMATCH (at the latest when it ends; at once when it grows past the size).
   * A blob absent from the source → IMAGE_NOT_FOUND.
   */
  getBlob(d: Descriptor): Promise<NodeJS.ReadableStream>;
  /** Release file handles. Idempotent. */
  close(): Promise<void>;
}

export interface OpenSourceOptions {
  /** Platform to pick from an index / manifest list (default: the host's, see hostPlatform()). */
  platform?: Partial<Platform>;
  /** Base directory for relative paths in SRC (default process.cwd()). */
  cwd?: string;
}
