/**
 * containers-registries.d(5): where GPG signatures of a docker image live (`lookaside`, or its
 * old name `sigstore`) and whether sigstore attachments are read from the registry
 * (`use-sigstore-attachments`). Every `*.yaml` file of the directory is read; a scope may be
 * configured in one file only. Lookup order: the image's identity, its repository, parent
 * namespaces, host, wildcard domains, then `default-docker` (containers/image registries_d.go).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { AtomicError, isErrno } from '../../util/errors.js';
import { dockerScopes, type DockerRef } from './docker-ref.js';

export interface RegistryEntry {
  lookaside?: string;
  'lookaside-staging'?: string;
  sigstore?: string;
  'sigstore-staging'?: string;
  'use-sigstore-attachments'?: boolean;
}

export interface RegistriesD {
  dir: string;
  defaultDocker?: RegistryEntry;
  docker: Record<string, RegistryEntry>;
  /** Which file defined each scope (for messages and `atomic trust`). */
  files: Record<string, string>;
}

const MAX_FILE = 1024 * 1024;

function invalid(file: string, msg: string): AtomicError {
  return new AtomicError('POLICY_INVALID', `registries.d ${file}: ${msg}`, { ref: file, suggestions: ['See containers-registries.d(5) and docs/trust.md.'] });
}

function entry(v: unknown, file: string, where: string): RegistryEntry {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(file, `${where} must be a mapping`);
  const e: RegistryEntry = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (k === 'use-sigstore-attachments') {
      if (typeof x !== 'boolean') throw invalid(file, `${where}.${k} must be true or false`);
      e[k] = x;
    } else if (k === 'lookaside' || k === 'lookaside-staging' || k === 'sigstore' || k === 'sigstore-staging') {
      if (typeof x !== 'string') throw invalid(file, `${where}.${k} must be a URL`);
      e[k] = x;
    }
    // Other keys (e.g. signature-storage extensions) are ignored, as containers/image does.
  }
  return e;
}

/** The yaml parser (~80 files), loaded only when a registries.d file is read: every pull and install checks trust. */
let yamlParse: ((text: string) => unknown) | null = null;
function parseYaml(text: string): unknown {
  yamlParse ??= (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse;
  return yamlParse(text);
}

export function loadRegistriesD(dir: string): RegistriesD {
  const out: RegistriesD = { dir, docker: {}, files: {} };
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.yaml')).sort();
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return out; // no lookaside configuration: only sigstore defaults
    throw invalid(dir, (e as Error).message);
  }
  for (const n of names) {
    const file = path.join(dir, n);
    const st = fs.statSync(file);
    if (!st.isFile()) continue;
    if (st.size > MAX_FILE) throw invalid(file, `larger than ${MAX_FILE} bytes`);
    let doc: unknown;
    try {
      doc = parseYaml(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw invalid(file, `not valid YAML: ${(e as Error).message}`);
    }
    if (doc === null || doc === undefined) continue;
    if (typeof doc !== 'object' || Array.isArray(doc)) throw invalid(file, 'the top level must be a mapping');
    const d = doc as Record<string, unknown>;
    if (d['default-docker'] !== undefined && d['default-docker'] !== null) {
      if (out.defaultDocker) throw invalid(file, `default-docker is also defined in ${out.files['default-docker']}`);
      out.defaultDocker = entry(d['default-docker'], file, 'default-docker');
      out.files['default-docker'] = file;
    }
    if (d.docker !== undefined && d.docker !== null) {
      if (typeof d.docker !== 'object' || Array.isArray(d.docker)) throw invalid(file, '"docker" must be a mapping of scopes');
      for (const [scope, v] of Object.entries(d.docker as Record<string, unknown>)) {
        if (out.docker[scope]) throw invalid(file, `docker scope "${scope}" is also defined in ${out.files[scope]}`);
        out.docker[scope] = entry(v, file, `docker["${scope}"]`);
        out.files[scope] = file;
      }
    }
  }
  return out;
}

/** The lookaside base URL for reading signatures of `ref`, or null. */
export function lookasideFor(conf: RegistriesD, ref: DockerRef): { url: string; scope: string } | null {
  for (const scope of dockerScopes(ref)) {
    const e = conf.docker[scope];
    const url = e?.lookaside || e?.sigstore;
    if (url) return { url, scope };
  }
  const d = conf.defaultDocker;
  const url = d?.lookaside || d?.sigstore;
  return url ? { url, scope: 'default-docker' } : null;
}

export function useSigstoreAttachments(conf: RegistriesD, ref: DockerRef): boolean {
  for (const scope of dockerScopes(ref)) {
    const v = conf.docker[scope]?.['use-sigstore-attachments'];
    if (v !== undefined) return v;
  }
  return conf.defaultDocker?.['use-sigstore-attachments'] ?? false;
}
