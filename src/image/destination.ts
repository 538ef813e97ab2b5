/**
 * Where a copied image goes (containers/image `types.ImageDestination`): the copy engine
 * (app/images/pull.ts) reads an ImageSource and writes through this interface only, so it never
 * touches the store's layout. The one implementation is the OSTree store
 * (image/store-destination.ts).
 */
import type { Checksum } from '../store/types.js';
import type { Descriptor } from './source.js';
import type { TrustRecord } from './trust/stored.js';

export interface PutLayerOptions {
  /** The config's diff_id for this layer: the layer is refused (nothing kept) when its uncompressed digest differs. */
  diffId?: string;
  onWarning?(msg: string): void;
  /** Bytes of the blob received so far, while it streams. */
  onBytes?(n: number): void;
  /** Aborts the copy (the blob stream is destroyed with the signal's reason, nothing of the layer is kept). */
  signal?: AbortSignal;
  /** Import the layer on a worker thread when the destination can (image/layer-worker.ts); the caller decides how many at once. */
  offThread?: boolean;
}

export interface ImageDestination {
  /** Human-readable, e.g. "ostree:ociimage/systest_3Alatest". */
  readonly description: string;
  /** Where the image is (to be) stored, e.g. the ref `ociimage/systest_3Alatest`. */
  readonly ref: string;
  /** The config blob `d` when the destination holds it already (it is not fetched again), else null. */
  storedConfig(d: Descriptor): Promise<Record<string, unknown> | null>;
  /** A layer the destination holds completely (not copied again): its uncompressed digest; else null. */
  reusableLayer(d: Descriptor): Promise<{ uncompressedDigest: string } | null>;
  /**
   * Store layer `d`, read from the verified stream `open()` returns (opened once the destination
   * is ready for it). Atomic: on any failure (verification, diff_id, the tar) nothing of the
   * layer is kept. Layers stored by earlier calls stay even when the copy fails later.
   */
  putLayer(d: Descriptor, open: () => Promise<NodeJS.ReadableStream>, opts?: PutLayerOptions): Promise<Checksum>;
  /** The image as stored when it is exactly this manifest and trust record, with its config present; else null. */
  currentImage(manifestDigest: string, config: Descriptor, trust: TrustRecord): Promise<Checksum | null>;
  /**
   * Store the config (`raw`, unless already stored), the manifest and its signatures, and point
   * the image's name at them, all at once: the name appears (or moves) only when everything it
   * needs is durable.
   */
  putImage(config: { d: Descriptor; raw: Buffer | null }, manifest: { raw: Buffer; digest: string }, trust: TrustRecord): Promise<Checksum>;
  /**
   * putLayer, then putImage, as one atomic step (one durable commit of the store instead of two):
   * on any failure neither the layer nor the image is kept. `image` is asked for once the layer is
   * imported (the image may only be stored once every other layer it needs is): null stores the
   * layer alone (image null). The layer is imported on the calling thread (opts.offThread is ignored).
   */
  putLayerAndImage(
    d: Descriptor,
    open: () => Promise<NodeJS.ReadableStream>,
    opts: PutLayerOptions,
    image: () => ImageParts | null,
  ): Promise<{ layer: Checksum; image: Checksum | null }>;
}

/** What putImage stores: the config (`raw` unless already stored), the manifest, the trust record. */
export interface ImageParts {
  config: { d: Descriptor; raw: Buffer | null };
  manifest: { raw: Buffer; digest: string };
  trust: TrustRecord;
}
