/**
 * OCI whiteouts (image-spec layer.md), the one place that names them. Layer commits keep
 * whiteout entries as ordinary files (store/layer-import.ts); they are applied when layers are
 * read as a union: the checkout (store/checkout.ts) and the /exports reader (image/exports.ts).
 * Per directory of a layer: `.wh..wh..opq` drops everything the lower layers put there;
 * `.wh.NAME` deletes NAME of the lower layers; other `.wh..wh.*` names are ignored; no `.wh.*`
 * name is ever materialized.
 */

/** The opaque-directory marker. */
export const OPAQUE = '.wh..wh..opq';
/** Prefix of a whiteout entry: `.wh.NAME` removes NAME. */
export const WH = '.wh.';
/** Prefix of whiteout metadata entries (`.wh..wh.*`): never a deletion. */
export const META_PREFIX = '.wh..wh.';

/** The name a `.wh.NAME` entry deletes, or null when `name` is no deletion (plain, opaque, metadata). */
export function whiteoutTarget(name: string): string | null {
  if (!name.startsWith(WH) || name.startsWith(META_PREFIX)) return null;
  return name.slice(WH.length);
}

/** A directory listing that holds the opaque marker. */
export function isOpaqueDir(files: ReadonlyArray<{ name: string }>): boolean {
  return files.some((f) => f.name === OPAQUE);
}
