/**
 * SRC strings → typed image references (reference §1.5, §2.14).
 *
 * Local transports: `oci:PATH[:TAG]` (an OCI layout directory), `oci-archive:PATH[:TAG]`,
 * `dockertar:/PATH` (atomic's form: `dockertar:/` + absolute path), `docker-archive:PATH[:NAME:TAG]`.
 * Registry forms (`docker://NAME`, `http:NAME`, `https:NAME`, `oci:NAME` that is not a directory,
 * bare `NAME`) and the docker daemon (`docker:NAME:TAG`) parse into their own variants; registry
 * references are served by src/image/registry/, the docker daemon by its CLI (transports/docker-daemon.ts).
 * New transports add a variant to `ImageReference` and a case in `transports.ts`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AtomicError } from '../util/errors.js';
import { parseImageName } from './name.js';

export interface StripTransportOptions {
  /** Also drop `docker://`. */
  docker?: boolean;
  /** Also drop `docker://` and the URL spellings `http://`, `https://`. */
  urls?: boolean;
  /** atomic's label-name rule: drop `docker:`, `oci:` or `ostree:`, each optionally followed by `//`. */
  label?: boolean;
}

/**
 * The stored-image name behind a pull source as atomic wrote it in an info file or on the command
 * line: drops `oci:`, `http:` and `https:` in front of a registry name, and with
 * `{ docker: true }` also `docker://`. (`oci:NAME` that is not a directory is a registry name, so
 * the store holds it as `NAME`.) Anything else is returned as it is. The one place that knows the
 * transport prefixes of a user's image argument.
 */
export function stripTransport(ref: string, o: StripTransportOptions = {}): string {
  if (o.label) return ref.replace(/^(docker|oci|ostree):(\/\/)?/, '');
  if (o.urls) return ref.replace(/^(docker:\/\/|oci:|https?:(\/\/)?)/, '');
  return ref.replace(o.docker ? /^(oci:|http:|https:|docker:\/\/)/ : /^(oci:|http:|https:)/, '');
}

export interface OciLayoutReference { transport: 'oci'; path: string; tag?: string; raw: string }
export interface OciArchiveReference { transport: 'oci-archive'; path: string; tag?: string; raw: string }
export interface DockerArchiveReference {
  transport: 'docker-archive';
  path: string;
  /** `NAME[:TAG]` selecting one image of a multi-image archive, or `@N` (index). */
  image?: string;
  /** Which spelling was used: atomic's `dockertar:/PATH` or containers/image `docker-archive:PATH`. */
  form: 'dockertar' | 'docker-archive';
  raw: string;
}
export interface RegistryReference {
  transport: 'registry';
  /** Normalized `[registry/]repo/image:tag` (digest kept separately). */
  name: string;
  digest?: string;
  /** `http:` prefix: TLS verification off (atomic). */
  insecure: boolean;
  raw: string;
}
export interface DockerDaemonReference { transport: 'docker-daemon'; name: string; raw: string }

export type ImageReference =
  | OciLayoutReference
  | OciArchiveReference
  | DockerArchiveReference
  | RegistryReference
  | DockerDaemonReference;

export interface ParseReferenceOptions {
  /** Base for relative paths (default process.cwd()). */
  cwd?: string;
}

function statKind(p: string): 'dir' | 'file' | 'other' | null {
  try {
    const st = fs.statSync(p);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  } catch {
    return null;
  }
}

function notFound(what: string, p: string, raw: string): AtomicError {
  return new AtomicError('IMAGE_NOT_FOUND', `${what} "${p}" does not exist (from "${raw}")`, {
    ref: raw,
    suggestions: ['Check the path; relative paths are resolved from the current directory.'],
  });
}

function looksLikePath(p: string): boolean {
  return p.startsWith('/') || p.startsWith('./') || p.startsWith('../') || p === '.' || p === '..';
}

/**
 * Split `PATH[:SUFFIX]` when PATH may itself contain ':' — the longest prefix that exists with the
 * wanted kind wins; otherwise split at the first ':' after the last '/'.
 */
function splitPath(rest: string, cwd: string, kind: 'dir' | 'file'): { path: string; suffix?: string; exists: boolean } {
  const abs = (p: string): string => path.resolve(cwd, p);
  if (statKind(abs(rest)) === kind) return { path: abs(rest), exists: true };
  for (let i = rest.length - 1; i > 0; i--) {
    if (rest[i] !== ':') continue;
    const p = rest.slice(0, i);
    if (statKind(abs(p)) === kind) return { path: abs(p), suffix: rest.slice(i + 1), exists: true };
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', slash + 1);
  if (colon > 0) return { path: abs(rest.slice(0, colon)), suffix: rest.slice(colon + 1), exists: false };
  return { path: abs(rest), exists: false };
}

function checkTag(tag: string | undefined, raw: string): string | undefined {
  if (tag === undefined) return undefined;
  // eslint-disable-next-line no-control-regex -- deliberate control-character match
  if (tag === '' || tag.length > 255 || /[\u0000-\u001f\u007f]/.test(tag)) {
    throw new AtomicError('USAGE', `Invalid tag ${JSON.stringify(tag)} in "${raw}"`, { ref: raw });
  }
  return tag;
}

function registry(name: string, raw: string, insecure: boolean): RegistryReference {
  const p = parseImageName(name);
  return { transport: 'registry', name: p.full, digest: p.digest, insecure, raw };
}

export function parseImageReference(raw: string, opts: ParseReferenceOptions = {}): ImageReference {
  const cwd = opts.cwd ?? process.cwd();
  if (typeof raw !== 'string' || raw === '') throw new AtomicError('USAGE', 'The image source is empty', { suggestions: ['Give an image such as oci:/path/to/layout:tag or dockertar://path/to/image.tar.'] });
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw new AtomicError('USAGE', `The image source ${JSON.stringify(raw)} contains control characters`);

  if (raw.startsWith('dockertar:')) {
    if (!raw.startsWith('dockertar:/')) {
      throw new AtomicError('USAGE', `"${raw}" is not a dockertar reference: the form is dockertar:/ followed by the path`, {
        suggestions: ['Write dockertar://ABSOLUTE/PATH.tar, e.g. dockertar://tmp/image.tar.'],
      });
    }
    const rest = raw.slice('dockertar:/'.length);
    if (rest === '') throw new AtomicError('USAGE', `"${raw}" names no tar file`);
    const p = path.resolve(cwd, rest);
    const k = statKind(p);
    if (k === null) throw notFound('Docker archive', p, raw);
    if (k !== 'file') throw new AtomicError('IMAGE_INVALID', `Docker archive "${p}" is not a regular file`, { ref: raw });
    return { transport: 'docker-archive', path: p, form: 'dockertar', raw };
  }
  if (raw.startsWith('docker-archive:')) {
    const rest = raw.slice('docker-archive:'.length);
    if (rest === '') throw new AtomicError('USAGE', `"${raw}" names no tar file`);
    const s = splitPath(rest, cwd, 'file');
    if (!s.exists) throw notFound('Docker archive', s.path, raw);
    return { transport: 'docker-archive', path: s.path, image: checkTag(s.suffix, raw), form: 'docker-archive', raw };
  }
  if (raw.startsWith('oci-archive:')) {
    const rest = raw.slice('oci-archive:'.length);
    if (rest === '') throw new AtomicError('USAGE', `"${raw}" names no archive`);
    const s = splitPath(rest, cwd, 'file');
    if (!s.exists) throw notFound('OCI archive', s.path, raw);
    return { transport: 'oci-archive', path: s.path, tag: checkTag(s.suffix, raw), raw };
  }
  if (raw.startsWith('oci:')) {
    const rest = raw.slice('oci:'.length);
    if (rest === '') throw new AtomicError('USAGE', `"${raw}" names no image`);
    const s = splitPath(rest, cwd, 'dir');
    if (s.exists) return { transport: 'oci', path: s.path, tag: checkTag(s.suffix, raw), raw };
    // atomic's meaning of oci:NAME is a registry image; an explicit path must exist though.
    if (looksLikePath(rest)) throw notFound('OCI layout directory', s.path, raw);
    // `oci:build/app:1.0` where ./build exists but not ./build/app: a mistyped relative layout
    // directory, not a registry name (whose first component would be a host or a namespace that is
    // not a local directory)
    const first = rest.split('/')[0]!;
    if (rest.includes('/') && !/[.:]/.test(first) && first !== 'localhost' && statKind(path.resolve(cwd, first)) === 'dir') {
      throw notFound('OCI layout directory', s.path, raw);
    }
    return registry(rest, raw, false);
  }
  if (raw.startsWith('docker://')) return registry(raw.slice('docker://'.length), raw, false);
  if (raw.startsWith('docker:')) return { transport: 'docker-daemon', name: parseImageName(raw.slice('docker:'.length)).full, raw };
  if (raw.startsWith('http:')) return registry(raw.slice('http:'.length).replace(/^\/\//, ''), raw, true);
  if (raw.startsWith('https:')) return registry(raw.slice('https:'.length).replace(/^\/\//, ''), raw, false);
  if (raw.startsWith('ostree:')) {
    throw new AtomicError('NOT_SUPPORTED', `Pulling from an ostree remote ("${raw}") is not supported`, {
      suggestions: ['atomic removed ostree: sources in 2018; export the image as an OCI layout or docker archive.'],
    });
  }
  if (looksLikePath(raw)) {
    const k = statKind(path.resolve(cwd, raw));
    const hint = k === 'dir' ? `oci:${raw}` : k === 'file' ? `dockertar:/${path.resolve(cwd, raw)} or oci-archive:${raw}` : null;
    throw new AtomicError('USAGE', `"${raw}" looks like a path, not an image name`, {
      suggestions: [hint ? `Name the transport: ${hint}` : 'Use oci:PATH, oci-archive:PATH or dockertar://ABSOLUTE/PATH.'],
    });
  }
  return registry(raw, raw, false);
}

/** Human-readable form of a reference (for messages). */
export function describeReference(ref: ImageReference): string {
  switch (ref.transport) {
    case 'oci':
    case 'oci-archive':
      return `${ref.transport}:${ref.path}${ref.tag !== undefined ? `:${ref.tag}` : ''}`;
    case 'docker-archive':
      return ref.form === 'dockertar' ? `dockertar:/${ref.path}` : `docker-archive:${ref.path}${ref.image !== undefined ? `:${ref.image}` : ''}`;
    case 'registry':
      return `docker://${ref.name}${ref.digest ? `@${ref.digest}` : ''}`;
    case 'docker-daemon':
      return `docker:${ref.name}`;
  }
}
