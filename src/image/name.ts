/**
 * Image names and their OSTree ref names (reference §2.3, §1.1).
 *
 * Encoding (atomic `_encode_to_ostree_ref` / skopeo `encodeOStreeRef`): ASCII `[A-Za-z0-9.-]` is
 * kept, every other character becomes `_` + two uppercase hex digits (`:` → `_3A`, `/` → `_2F`,
 * `_` → `_5F`). Non-ASCII: atomic (Python 3) would keep Unicode letters and write `_%02X` of code
 * points > 0xFF with more than two digits (ambiguous), skopeo writes only the rune's first byte
 * (lossy). We encode each UTF-8 byte as `_XX`, which agrees with both on ASCII, is reversible and
 * keeps ref names ASCII. Decoding turns `_XX` sequences back into bytes and decodes them as UTF-8.
 */
import { AtomicError } from '../util/errors.js';

/** Longest accepted image name (before encoding), and longest encoded ref file name. */
export const MAX_NAME_LENGTH = 255;

const KEEP = /^[A-Za-z0-9.-]$/;

export function encodeRefName(name: string): string {
  let out = '';
  for (const ch of name) {
    if (KEEP.test(ch)) {
      out += ch;
    } else {
      for (const byte of Buffer.from(ch, 'utf8')) out += `_${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

/** Decode an encoded ref name; null when it is not a valid encoding. */
export function tryDecodeRefName(enc: string): string | null {
  const bytes: number[] = [];
  for (let i = 0; i < enc.length; i++) {
    const ch = enc[i]!;
    if (ch === '_') {
      const hex = enc.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (KEEP.test(ch)) {
      bytes.push(ch.charCodeAt(0));
    } else {
      return null;
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return null;
  }
}

export function decodeRefName(enc: string): string {
  const s = tryDecodeRefName(enc);
  if (s === null) {
    throw new AtomicError('USAGE', `"${enc}" is not a valid encoded image ref name`, {
      suggestions: ['Encoded names use only [A-Za-z0-9.-] and _XX hex escapes.'],
      ref: enc,
    });
  }
  return s;
}

function usage(message: string, ...suggestions: string[]): AtomicError {
  return new AtomicError('USAGE', message, { suggestions });
}

/** Refuse names that could not be a sane image reference or would be unsafe in paths and refs. */
export function validateImageName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw usage('The image name is empty', 'Give an image name such as "busybox" or "registry.example.com/app:1.0".');
  if (name.length > MAX_NAME_LENGTH) throw usage(`The image name "${name.slice(0, 40)}..." is too long (${name.length} characters, the limit is ${MAX_NAME_LENGTH})`);
  // eslint-disable-next-line no-control-regex
  const bad = /[\u0000-\u0020\u007f]/.exec(name);
  if (bad) throw usage(`The image name ${JSON.stringify(name)} contains a control or space character (code ${bad[0].charCodeAt(0)})`, 'Image names cannot contain spaces, newlines or NUL bytes.');
  for (const comp of name.split('/')) {
    if (comp === '' ) throw usage(`The image name "${name}" has an empty path component`, 'Remove leading, trailing or doubled "/".');
    if (comp === '.' || comp === '..') throw usage(`The image name "${name}" contains a "${comp}" path component`);
  }
}

export interface ImageNameParts {
  /** Registry host[:port] when the first component looks like one (has '.', ':' or is localhost), else ''. */
  registry: string;
  /** Everything before the tag, registry included: "registry.example.com/f27/etcd". */
  repository: string;
  /** Last path component: "etcd". */
  image: string;
  tag: string;
  /** The stripped `@sha256:...` digest, if any. */
  digest?: string;
  /** `repository:tag`. */
  full: string;
}

const PREFIXES = ['docker://', 'oci:', 'https:', 'http:'];

function stripPrefix(s: string): string {
  for (const p of PREFIXES) {
    if (s.startsWith(p)) {
      s = s.slice(p.length);
      if (p.startsWith('http')) s = s.replace(/^\/\//, '');
      return s;
    }
  }
  return s;
}

/**
 * atomic's name normalization (`Decompose`): drop one `docker://`, `oci:`, `http:` or `https:`
 * prefix at the start, strip an `@sha256:...` digest, take the tag after the last ':' that is not
 * part of a registry host:port (default `latest`). No DNS lookups: the first component is a
 * registry when it contains '.' or ':' or is `localhost`. `docker.io` gets no implicit `library/`.
 */
export function parseImageName(input: string): ImageNameParts {
  if (typeof input !== 'string') throw usage('The image name is not a string');
  let s = stripPrefix(input);
  validateImageName(s);
  let digest: string | undefined;
  const at = s.indexOf('@');
  if (at >= 0) {
    digest = s.slice(at + 1);
    if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/.test(digest)) {
      throw usage(`The image name "${input}" has an invalid digest "${digest}"`, 'Use NAME@sha256:<64 hex digits>.');
    }
    s = s.slice(0, at);
  }
  const lastColon = s.lastIndexOf(':');
  const lastSlash = s.lastIndexOf('/');
  let tag = 'latest';
  if (lastColon > lastSlash) {
    tag = s.slice(lastColon + 1);
    s = s.slice(0, lastColon);
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) {
      throw usage(`The image name "${input}" has an invalid tag "${tag}"`, 'Tags use [A-Za-z0-9_.-], at most 128 characters.');
    }
  }
  if (s === '') throw usage(`The image name "${input}" has no repository part`);
  validateImageName(s);
  const comps = s.split('/');
  const first = comps[0]!;
  const registry = comps.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : '';
  return { registry, repository: s, image: comps[comps.length - 1]!, tag, digest, full: `${s}:${tag}` };
}

/** `repository:tag` with the default tag added. */
export function normalizeImageName(input: string): string {
  return parseImageName(input).full;
}

/** The encoded ref name of an image name (its ref is `ociimage/` + this: stored-image.ts imageRef). */
export function imageRefName(name: string): string {
  const enc = encodeRefName(normalizeImageName(name));
  if (Buffer.byteLength(enc) > MAX_NAME_LENGTH) {
    throw usage(`The image name "${name}" is too long once encoded as an OSTree ref (${enc.length} bytes, the limit is ${MAX_NAME_LENGTH})`, 'Use a shorter name with --name or a shorter tag.');
  }
  return enc;
}

/**
 * §1.1 `get_default_system_name`: drop `@sha256:...` and a leading `oci:`/`docker:` prefix, then
 * the last path component, plus `-tag` unless the tag is `latest`.
 * `registry.fedoraproject.org/f27/etcd:27` → `etcd-27`, `busybox` → `busybox`.
 */
export function defaultSystemName(image: string): string {
  let s = image;
  if (s.startsWith('docker:') && !s.startsWith('docker://')) s = s.slice('docker:'.length);
  const p = parseImageName(s);
  return p.tag === 'latest' ? p.image : `${p.image}-${p.tag}`;
}
