/**
 * Registry credentials, in the order containers-auth.json(5) and atomic look for them:
 * 1. `--src-creds USER[:PASS]`;
 * 2. `$REGISTRY_AUTH_FILE` when set, else the runtime auth file (`/run/containers/0/auth.json`
 *    for root, `$XDG_RUNTIME_DIR/containers/auth.json` otherwise);
 * 3. `~/.docker/config.json` (`$DOCKER_CONFIG/config.json` when set).
 * Entries are keyed by `host[:port]`, a `host[:port]/namespace` prefix (longest wins) or a URL
 * (`https://host/v1/`); the value has a base64 `auth` of `user:password`, or `username`/`password`.
 * Credential helpers (`credHelpers`, `credsStore`) are not supported.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AtomicError } from '../../util/errors.js';
import { isJsonObject, parseJson } from '../../util/bounded-read.js';

export interface Credentials {
  username: string;
  password: string;
  /** Where they came from, for messages ("--src-creds", a file path). */
  source: string;
}

const MAX_AUTH_FILE = 1024 * 1024;

/** Parse `USER[:PASS]` (the password may contain ':'). */
export function parseCreds(s: string, source = '--src-creds'): Credentials {
  const i = s.indexOf(':');
  const username = i < 0 ? s : s.slice(0, i);
  const password = i < 0 ? '' : s.slice(i + 1);
  if (username === '') throw new AtomicError('USAGE', `${source}: the user name is empty`, { suggestions: ['Give --src-creds USER:PASSWORD.'] });
  return { username, password, source };
}

/** The auth files to consult, in order. */
export function authFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  else {
    const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
    if (uid === 0) files.push('/run/containers/0/auth.json');
    else if (env.XDG_RUNTIME_DIR) files.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  }
  const home = env.HOME || os.homedir();
  files.push(env.DOCKER_CONFIG ? path.join(env.DOCKER_CONFIG, 'config.json') : path.join(home, '.docker', 'config.json'));
  return files;
}

function normalizeKey(k: string): string {
  return k.replace(/^https?:\/\//, '').replace(/\/v[12]\/?$/, '').replace(/\/+$/, '');
}

function decodeEntry(v: unknown, file: string, key: string): Credentials | null {
  if (!isJsonObject(v)) return null;
  if (typeof v.auth === 'string' && v.auth !== '') {
    const dec = Buffer.from(v.auth, 'base64').toString('utf8');
    const i = dec.indexOf(':');
    if (i <= 0) throw new AtomicError('USAGE', `${file}: the "auth" of ${key} is not base64 of user:password`, { ref: file });
    return { username: dec.slice(0, i), password: dec.slice(i + 1), source: file };
  }
  if (typeof v.username === 'string' && v.username !== '') return { username: v.username, password: typeof v.password === 'string' ? v.password : '', source: file };
  return null;
}

/** Look `host/repo` up in one auth file; null when the file or the entry is absent. */
export function lookupAuthFile(file: string, host: string, repo: string): Credentials | null {
  let raw: Buffer;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return null;
    if (st.size > MAX_AUTH_FILE) throw new AtomicError('USAGE', `${file} is too large (${st.size} bytes)`, { ref: file });
    raw = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof AtomicError) throw e;
    return null;
  }
  const doc = parseJson<unknown>(raw, file);
  if (!isJsonObject(doc) || !isJsonObject(doc.auths)) return null;
  const want = `${host}/${repo}`;
  let best: { len: number; key: string; v: unknown } | null = null;
  for (const [k, v] of Object.entries(doc.auths)) {
    const nk = normalizeKey(k);
    const hit = nk === host || want === nk || want.startsWith(`${nk}/`);
    // docker.io entries are often written as index.docker.io.
    const hub = host === 'docker.io' && (nk === 'index.docker.io' || nk === 'registry-1.docker.io');
    if ((hit || hub) && (!best || nk.length > best.len)) best = { len: nk.length, key: k, v };
  }
  return best ? decodeEntry(best.v, file, best.key) : null;
}

/** Credentials for `host/repo`: explicit ones, else the first auth file with an entry. */
export function findCredentials(host: string, repo: string, explicit?: string, env: NodeJS.ProcessEnv = process.env): Credentials | null {
  if (explicit !== undefined) return parseCreds(explicit);
  for (const f of authFiles(env)) {
    const c = lookupAuthFile(f, host, repo);
    if (c) return c;
  }
  return null;
}
