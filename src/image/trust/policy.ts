/**
 * containers-policy.json(5): parsing with containers/image's strictness (unknown fields in a
 * requirement, an empty requirement list or a missing file are errors) and the file's location.
 * Evaluation is in evaluate.ts; editing (`atomic trust`) in policy-edit.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AtomicError, isErrno } from '../../util/errors.js';
import { parseDockerRef, isNameOnly } from './docker-ref.js';

export type IdentityRule =
  | { type: 'matchExact' }
  | { type: 'matchRepoDigestOrExact' }
  | { type: 'matchRepository' }
  | { type: 'exactReference'; dockerReference: string }
  | { type: 'exactRepository'; dockerRepository: string }
  | { type: 'remapIdentity'; prefix: string; signedPrefix: string };

export type Requirement =
  | { type: 'insecureAcceptAnything' }
  | { type: 'reject' }
  | { type: 'signedBy'; keyType: 'GPGKeys'; keyPath?: string; keyPaths?: string[]; keyData?: string; signedIdentity: IdentityRule }
  | { type: 'sigstoreSigned'; keyPath?: string; keyPaths?: string[]; keyData?: string; signedIdentity: IdentityRule };

export interface Policy {
  /** Where it was read from (for messages). */
  file: string;
  default: Requirement[];
  transports: Record<string, Record<string, Requirement[]>>;
}

/** Where to find the policy and the lookaside configuration (skopeo's --policy / --registries.d). */
export interface TrustSettings {
  /** `--signature-policy FILE`. */
  policyPath?: string;
  /** `--registries.d DIR`. */
  registriesDir?: string;
  /** `--insecure-policy`: do not evaluate the policy at all (said on output). */
  insecurePolicy?: boolean;
  /** Unprivileged: `$HOME/.config/containers/...` first (default: euid != 0). */
  userMode?: boolean;
  home?: string;
}

/** The settings of a use-case context: its --signature-policy etc., user mode from its store paths. */
export function trustSettings(ctx: { paths: { userMode: boolean }; trust?: TrustSettings }): TrustSettings {
  return { userMode: ctx.paths.userMode, ...(ctx.trust ?? {}) };
}

export const SYSTEM_POLICY = '/etc/containers/policy.json';
export const SYSTEM_REGISTRIES_D = '/etc/containers/registries.d';
const MAX_POLICY = 4 * 1024 * 1024;

function isUser(s: TrustSettings): boolean {
  return s.userMode ?? (typeof process.geteuid === 'function' ? process.geteuid() !== 0 : false);
}

function userConfig(s: TrustSettings, ...p: string[]): string {
  return path.join(s.home ?? process.env.HOME ?? os.homedir(), '.config', 'containers', ...p);
}

/** The policy file in use: --signature-policy, else (user mode) ~/.config/containers/policy.json when it exists, else /etc/containers/policy.json. */
export function policyPathFor(s: TrustSettings = {}): string {
  if (s.policyPath) return path.resolve(s.policyPath);
  if (isUser(s)) {
    const u = userConfig(s, 'policy.json');
    if (fs.existsSync(u)) return u;
  }
  return SYSTEM_POLICY;
}

/** The registries.d directory in use (same precedence as the policy). */
export function registriesDirFor(s: TrustSettings = {}): string {
  if (s.registriesDir) return path.resolve(s.registriesDir);
  if (isUser(s)) {
    const u = userConfig(s, 'registries.d');
    if (fs.existsSync(u)) return u;
  }
  return SYSTEM_REGISTRIES_D;
}

/** Where `atomic trust` writes: the file in use, or (user mode, none yet) the user's own. */
export function policyPathForWrite(s: TrustSettings = {}): string {
  if (s.policyPath) return path.resolve(s.policyPath);
  if (isUser(s)) return userConfig(s, 'policy.json');
  return SYSTEM_POLICY;
}

export function registriesDirForWrite(s: TrustSettings = {}): string {
  if (s.registriesDir) return path.resolve(s.registriesDir);
  if (isUser(s)) return userConfig(s, 'registries.d');
  return SYSTEM_REGISTRIES_D;
}

function invalid(file: string, where: string, msg: string): AtomicError {
  return new AtomicError('POLICY_INVALID', `policy ${file}: ${where}: ${msg}`, {
    ref: file,
    suggestions: ['Fix the file (see containers-policy.json(5) and docs/trust.md), or edit it with atomic trust add/delete/default.'],
  });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function onlyKeys(o: Record<string, unknown>, allowed: string[], file: string, where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw invalid(file, where, `unknown field "${k}"`);
}

function str(o: Record<string, unknown>, k: string, file: string, where: string): string {
  const v = o[k];
  if (typeof v !== 'string' || v === '') throw invalid(file, where, `"${k}" must be a non-empty string`);
  return v;
}

function parseIdentity(v: unknown, file: string, where: string): IdentityRule {
  if (v === undefined) return { type: 'matchRepoDigestOrExact' };
  if (!isObj(v)) throw invalid(file, where, 'signedIdentity must be an object');
  const w = `${where}.signedIdentity`;
  switch (v.type) {
    case 'matchExact':
    case 'matchRepoDigestOrExact':
    case 'matchRepository':
      onlyKeys(v, ['type'], file, w);
      return { type: v.type };
    case 'exactReference': {
      onlyKeys(v, ['type', 'dockerReference'], file, w);
      const r = str(v, 'dockerReference', file, w);
      if (isNameOnly(parseDockerRef(r))) throw invalid(file, w, `dockerReference "${r}" must have a tag or a digest`);
      return { type: 'exactReference', dockerReference: r };
    }
    case 'exactRepository': {
      onlyKeys(v, ['type', 'dockerRepository'], file, w);
      const r = str(v, 'dockerRepository', file, w);
      parseDockerRef(r);
      return { type: 'exactRepository', dockerRepository: r };
    }
    case 'remapIdentity': {
      onlyKeys(v, ['type', 'prefix', 'signedPrefix'], file, w);
      return { type: 'remapIdentity', prefix: str(v, 'prefix', file, w), signedPrefix: str(v, 'signedPrefix', file, w) };
    }
    default:
      throw invalid(file, w, `unknown signedIdentity type ${JSON.stringify(v.type)}`);
  }
}

function parseKeys(v: Record<string, unknown>, file: string, where: string): { keyPath?: string; keyPaths?: string[]; keyData?: string } {
  const given = ['keyPath', 'keyPaths', 'keyData'].filter((k) => v[k] !== undefined);
  if (given.length !== 1) throw invalid(file, where, `exactly one of keyPath, keyPaths and keyData is required (found ${given.length ? given.join(', ') : 'none'})`);
  if (v.keyPath !== undefined) return { keyPath: str(v, 'keyPath', file, where) };
  if (v.keyData !== undefined) {
    const d = str(v, 'keyData', file, where);
    if (!/^[A-Za-z0-9+/=\s]+$/.test(d)) throw invalid(file, where, 'keyData must be base64');
    return { keyData: d };
  }
  if (!Array.isArray(v.keyPaths) || v.keyPaths.length === 0 || v.keyPaths.some((p) => typeof p !== 'string' || p === '')) throw invalid(file, where, 'keyPaths must be a non-empty list of file names');
  return { keyPaths: v.keyPaths as string[] };
}

export function parseRequirement(v: unknown, file: string, where: string): Requirement {
  if (!isObj(v)) throw invalid(file, where, 'a requirement must be an object with a "type"');
  switch (v.type) {
    case 'insecureAcceptAnything':
    case 'reject':
      onlyKeys(v, ['type'], file, where);
      return { type: v.type };
    case 'signedBy': {
      onlyKeys(v, ['type', 'keyType', 'keyPath', 'keyPaths', 'keyData', 'signedIdentity'], file, where);
      if (v.keyType !== 'GPGKeys') {
        if (v.keyType === 'X509Certificates' || v.keyType === 'signedByGPGKeys' || v.keyType === 'signedByX509CAs') {
          throw new AtomicError('NOT_SUPPORTED', `policy ${file}: ${where}: keyType "${String(v.keyType)}" is not implemented (as in containers/image)`, { ref: file });
        }
        throw invalid(file, where, `keyType must be "GPGKeys" (found ${JSON.stringify(v.keyType)})`);
      }
      return { type: 'signedBy', keyType: 'GPGKeys', ...parseKeys(v, file, where), signedIdentity: parseIdentity(v.signedIdentity, file, where) };
    }
    case 'sigstoreSigned': {
      const unsupported = ['fulcio', 'rekorPublicKeyPath', 'rekorPublicKeyPaths', 'rekorPublicKeyData', 'pki'].filter((k) => v[k] !== undefined);
      if (unsupported.length) {
        throw new AtomicError('NOT_SUPPORTED', `policy ${file}: ${where}: sigstoreSigned with ${unsupported.join(', ')} (keyless / transparency-log verification) is not supported`, {
          ref: file,
          suggestions: ['Use a public key: "keyPath" or "keyData" (cosign generate-key-pair).'],
        });
      }
      onlyKeys(v, ['type', 'keyPath', 'keyPaths', 'keyData', 'signedIdentity'], file, where);
      return { type: 'sigstoreSigned', ...parseKeys(v, file, where), signedIdentity: parseIdentity(v.signedIdentity, file, where) };
    }
    default:
      throw invalid(file, where, `unknown requirement type ${JSON.stringify(v.type)}`);
  }
}

function parseRequirements(v: unknown, file: string, where: string): Requirement[] {
  if (!Array.isArray(v)) throw invalid(file, where, 'must be a list of requirements');
  if (v.length === 0) throw invalid(file, where, 'an empty list of requirements is not allowed (use [{"type":"reject"}] or [{"type":"insecureAcceptAnything"}])');
  return v.map((r, i) => parseRequirement(r, file, `${where}[${i}]`));
}

/** Validate a scope key of a known transport (containers/image ValidatePolicyConfigurationScope). */
function validateScope(transport: string, scope: string, file: string): void {
  if (scope === '') return;
  const where = `transports.${transport}["${scope}"]`;
  if (transport === 'docker' || transport === 'atomic') {
    if (scope.startsWith('*.')) {
      if (!/^\*\.[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(scope)) throw invalid(file, where, 'a wildcard scope is *.DOMAIN');
      return;
    }
    try {
      parseDockerRef(scope);
    } catch {
      throw invalid(file, where, 'not a valid docker scope (HOST[:PORT][/NAMESPACE...][/REPO][:TAG|@DIGEST])');
    }
    return;
  }
  if (transport === 'oci' || transport === 'oci-archive' || transport === 'dir') {
    if (!scope.startsWith('/')) throw invalid(file, where, 'scopes of local transports are absolute paths');
  }
}

export function parsePolicy(text: string, file: string): Policy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalid(file, 'JSON', (e as Error).message);
  }
  if (!isObj(doc)) throw invalid(file, 'top level', 'must be a JSON object');
  onlyKeys(doc, ['default', 'transports'], file, 'top level');
  if (doc.default === undefined) throw invalid(file, 'top level', '"default" is required');
  const policy: Policy = { file, default: parseRequirements(doc.default, file, 'default'), transports: {} };
  if (doc.transports !== undefined) {
    if (!isObj(doc.transports)) throw invalid(file, 'transports', 'must be an object');
    for (const [t, scopes] of Object.entries(doc.transports)) {
      if (!isObj(scopes)) throw invalid(file, `transports.${t}`, 'must be an object of scopes');
      const m: Record<string, Requirement[]> = {};
      for (const [scope, reqs] of Object.entries(scopes)) {
        validateScope(t, scope, file);
        m[scope] = parseRequirements(reqs, file, `transports.${t}["${scope}"]`);
      }
      policy.transports[t] = m;
    }
  }
  return policy;
}

export function loadPolicy(s: TrustSettings = {}): Policy {
  const file = policyPathFor(s);
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw invalid(file, 'file', 'is not a regular file');
    if (st.size > MAX_POLICY) throw invalid(file, 'file', `is larger than ${MAX_POLICY} bytes`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) {
      throw new AtomicError('POLICY_INVALID', `no signature policy at ${file}: every pull is checked against containers-policy.json(5) and a missing policy is an error (as in containers/image)`, {
        ref: file,
        suggestions: [
          `Create it: atomic trust default reject (then atomic trust add ...), or atomic trust default accept to accept any image without checking signatures.`,
          'Or name another file with --signature-policy FILE.',
        ],
      });
    }
    if (isErrno(e, 'EACCES')) throw new AtomicError('PERMISSION', `cannot read the signature policy ${file}: ${(e as Error).message}`, { ref: file });
    throw e;
  }
  return parsePolicy(text, file);
}
