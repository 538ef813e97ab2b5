/**
 * Editing policy.json and registries.d for `atomic trust add | delete | default`: the files are
 * read as documents, only the touched scope changes (unknown keys, other scopes, comments in YAML
 * are kept), and every file is replaced through src/util/atomic-write.ts (temp + fsync + rename).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocument, type Document } from 'yaml';
import { atomicWrite } from '../../util/atomic-write.js';
import { AtomicError, isErrno } from '../../util/errors.js';
import { parseRequirement, type Requirement } from './policy.js';
import { loadRegistriesD, type RegistryEntry } from './registries-d.js';

export type PolicyDoc = Record<string, unknown> & { default?: unknown; transports?: Record<string, Record<string, unknown>> };

/** The policy as a plain JSON document (null when the file does not exist). */
export function readPolicyDoc(file: string): PolicyDoc | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return null;
    throw new AtomicError('POLICY_INVALID', `cannot read ${file}: ${(e as Error).message}`, { ref: file });
  }
  try {
    const d = JSON.parse(text) as unknown;
    if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new Error('not a JSON object');
    return d as PolicyDoc;
  } catch (e) {
    throw new AtomicError('POLICY_INVALID', `${file} is not a JSON object: ${(e as Error).message}`, { ref: file, suggestions: ['Fix or remove the file, then run the command again.'] });
  }
}

export async function writePolicyDoc(file: string, doc: PolicyDoc): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await atomicWrite(file, JSON.stringify(doc, null, 4) + '\n', { mode: 0o644 });
}

/** Set transports[transport][scope] (validated) and write the file. */
export async function setScope(file: string, transport: string, scope: string, reqs: Requirement[]): Promise<void> {
  reqs.forEach((r, i) => parseRequirement(r, file, `new requirement ${i}`));
  const doc = readPolicyDoc(file) ?? { default: [{ type: 'reject' }] };
  const transports = (typeof doc.transports === 'object' && doc.transports !== null ? doc.transports : {}) as Record<string, Record<string, unknown>>;
  transports[transport] = { ...(transports[transport] ?? {}), [scope]: reqs };
  doc.transports = transports;
  await writePolicyDoc(file, doc);
}

/** Remove transports[transport][scope]; false when it was not there. */
export async function deleteScope(file: string, transport: string, scope: string): Promise<boolean> {
  const doc = readPolicyDoc(file);
  const t = doc?.transports?.[transport];
  if (!doc || !t || !(scope in t)) return false;
  delete t[scope];
  await writePolicyDoc(file, doc);
  return true;
}

export async function setDefault(file: string, req: Requirement): Promise<void> {
  const doc = readPolicyDoc(file) ?? {};
  doc.default = [req];
  await writePolicyDoc(file, doc);
}

function fileNameFor(scope: string): string {
  const host = scope.split('/')[0]!.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${host}.yaml`;
}

async function writeYaml(file: string, doc: Document): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await atomicWrite(file, String(doc), { mode: 0o644 });
}

/**
 * Set the registries.d entry of a docker scope: in the file that already defines it, else in
 * DIR/<host>.yaml. Keys we do not set are kept.
 */
export async function setRegistryEntry(dir: string, scope: string, entry: RegistryEntry): Promise<string> {
  const conf = loadRegistriesD(dir);
  const file = conf.files[scope] ?? path.join(dir, fileNameFor(scope));
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
  }
  const doc = parseDocument(text);
  if (doc.contents === null) doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
  for (const [k, v] of Object.entries(entry)) doc.setIn(['docker', scope, k], v);
  await writeYaml(file, doc);
  return file;
}

/** Remove the registries.d entry of a scope (the file that defines it keeps everything else). */
export async function deleteRegistryEntry(dir: string, scope: string): Promise<string | null> {
  const conf = loadRegistriesD(dir);
  const file = conf.files[scope];
  if (!file || scope === 'default-docker') return null;
  const doc = parseDocument(fs.readFileSync(file, 'utf8'));
  doc.deleteIn(['docker', scope]);
  await writeYaml(file, doc);
  return file;
}
