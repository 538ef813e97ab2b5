/**
 * `/etc/containers/registries.conf` (containers-registries.conf(5)), the parts a pull needs:
 * `unqualified-search-registries` (the first entry is atomic's "default registry configured for
 * Skopeo"), `[[registry]]` tables with `location` / `prefix` / `insecure` / `blocked`, and the
 * version-1 tables `[registries.search]`, `[registries.insecure]`, `[registries.block]`.
 * Drop-ins in `registries.conf.d/*.conf` are read after the main file (later files win for
 * scalar keys, `[[registry]]` entries accumulate).
 *
 * The file is TOML; only the subset these keys use is parsed: comments, tables, arrays of
 * tables, strings (basic and literal), booleans, integers and (multi-line) arrays of those.
 * The path can be overridden with `$CONTAINERS_REGISTRIES_CONF` (as containers/image does).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AtomicError } from '../../util/errors.js';

export const DEFAULT_REGISTRIES_CONF = '/etc/containers/registries.conf';
const MAX_CONF_BYTES = 1024 * 1024;

type TomlValue = string | boolean | number | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

export interface RegistryEntry {
  /** The namespace the entry applies to (`prefix`, else `location`). */
  prefix: string;
  location: string;
  insecure: boolean;
  blocked: boolean;
}

export interface RegistriesConf {
  /** Files actually read (for messages). */
  files: string[];
  unqualifiedSearch: string[];
  registries: RegistryEntry[];
}

function confError(file: string, line: number, msg: string): AtomicError {
  return new AtomicError('USAGE', `${file}:${line}: ${msg}`, {
    ref: file,
    suggestions: ['Fix the TOML syntax of the file (see containers-registries.conf(5)).'],
  });
}

/** Parse the TOML subset described above. */
export function parseToml(text: string, file = 'registries.conf'): TomlTable {
  const root: TomlTable = {};
  let cur: TomlTable = root;
  let i = 0;
  let line = 1;
  const n = text.length;
  const err = (m: string): AtomicError => confError(file, line, m);

  const skipWs = (newlines: boolean): void => {
    while (i < n) {
      const c = text[i]!;
      if (c === ' ' || c === '\t' || c === '\r') i++;
      else if (c === '\n' && newlines) {
        i++;
        line++;
      } else if (c === '#') {
        while (i < n && text[i] !== '\n') i++;
      } else break;
    }
  };
  const parseKey = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      skipWs(false);
      let k: string;
      if (text[i] === '"' || text[i] === "'") k = parseString();
      else {
        const m = /^[A-Za-z0-9_-]+/.exec(text.slice(i, i + 256));
        if (!m) throw err(`expected a key, found ${JSON.stringify(text.slice(i, i + 10))}`);
        k = m[0];
        i += k.length;
      }
      parts.push(k);
      skipWs(false);
      if (text[i] === '.') {
        i++;
        continue;
      }
      return parts;
    }
  };
  const parseString = (): string => {
    const q = text[i]!;
    if (text.startsWith(q.repeat(3), i)) throw err('multi-line strings are not supported');
    i++;
    let out = '';
    while (i < n && text[i] !== q) {
      if (text[i] === '\n') throw err('unterminated string');
      if (q === '"' && text[i] === '\\') {
        const e = text[i + 1];
        const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', b: '\b', f: '\f' };
        if (e !== undefined && map[e] !== undefined) {
          out += map[e];
          i += 2;
        } else if (e === 'u' || e === 'U') {
          const len = e === 'u' ? 4 : 8;
          const hex = text.slice(i + 2, i + 2 + len);
          if (!/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== len) throw err('bad unicode escape');
          out += String.fromCodePoint(parseInt(hex, 16));
          i += 2 + len;
        } else throw err(`bad escape \\${e ?? ''}`);
      } else out += text[i++];
    }
    if (i >= n) throw err('unterminated string');
    i++;
    return out;
  };
  const parseValue = (): TomlValue => {
    skipWs(false);
    const c = text[i];
    if (c === '"' || c === "'") return parseString();
    if (c === '[') {
      i++;
      const arr: TomlValue[] = [];
      for (;;) {
        skipWs(true);
        if (text[i] === ']') {
          i++;
          return arr;
        }
        arr.push(parseValue());
        skipWs(true);
        if (text[i] === ',') i++;
        else if (text[i] !== ']') throw err('expected "," or "]" in an array');
      }
    }
    if (c === '{') {
      i++;
      const t: TomlTable = {};
      for (;;) {
        skipWs(false);
        if (text[i] === '}') {
          i++;
          return t;
        }
        const k = parseKey();
        if (text[i] !== '=') throw err('expected "=" in an inline table');
        i++;
        setPath(t, k, parseValue());
        skipWs(false);
        if (text[i] === ',') i++;
      }
    }
    const m = /^(true|false|[+-]?[0-9][0-9_]*)/.exec(text.slice(i, i + 40));
    if (!m) throw err(`unsupported value ${JSON.stringify(text.slice(i, i + 20))}`);
    i += m[0].length;
    if (m[0] === 'true') return true;
    if (m[0] === 'false') return false;
    return Number(m[0].replace(/_/g, ''));
  };
  const setPath = (t: TomlTable, keys: string[], v: TomlValue): void => {
    let o = t;
    for (const k of keys.slice(0, -1)) {
      if (o[k] === undefined) o[k] = {};
      const next = o[k];
      if (typeof next !== 'object' || Array.isArray(next)) throw err(`key ${keys.join('.')} conflicts with an earlier value`);
      o = next;
    }
    o[keys[keys.length - 1]!] = v;
  };
  const tableAt = (keys: string[], arrayOfTables: boolean): TomlTable => {
    let o = root;
    keys.forEach((k, idx) => {
      const last = idx === keys.length - 1;
      let v = o[k];
      if (last && arrayOfTables) {
        if (v === undefined) v = o[k] = [];
        if (!Array.isArray(v)) throw err(`${keys.join('.')} is not an array of tables`);
        const t: TomlTable = {};
        v.push(t);
        o = t;
        return;
      }
      if (v === undefined) v = o[k] = {};
      if (Array.isArray(v)) {
        const lastT = v[v.length - 1];
        if (typeof lastT !== 'object' || Array.isArray(lastT)) throw err(`${keys.join('.')} is not a table`);
        o = lastT;
      } else if (typeof v === 'object') o = v;
      else throw err(`${keys.join('.')} is not a table`);
    });
    return o;
  };

  while (i < n) {
    skipWs(true);
    if (i >= n) break;
    if (text[i] === '[') {
      const aot = text[i + 1] === '[';
      i += aot ? 2 : 1;
      const keys = parseKey();
      if (text[i] !== ']' || (aot && text[i + 1] !== ']')) throw err('unterminated table header');
      i += aot ? 2 : 1;
      cur = tableAt(keys, aot);
    } else {
      const keys = parseKey();
      if (text[i] !== '=') throw err(`expected "=" after ${keys.join('.')}`);
      i++;
      setPath(cur, keys, parseValue());
    }
    skipWs(false);
    if (i < n && text[i] !== '\n') throw err(`unexpected ${JSON.stringify(text.slice(i, i + 10))} at the end of a line`);
  }
  return root;
}

const strList = (v: TomlValue | undefined): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const isTable = (v: TomlValue | undefined): v is TomlTable => typeof v === 'object' && v !== null && !Array.isArray(v);

function readConf(file: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return null;
  }
  if (!st.isFile()) return null;
  if (st.size > MAX_CONF_BYTES) throw new AtomicError('USAGE', `${file} is too large (${st.size} bytes)`, { ref: file });
  return fs.readFileSync(file, 'utf8');
}

/** Load registries.conf (+ drop-ins). A missing file is an empty configuration. */
export function loadRegistriesConf(file = process.env.CONTAINERS_REGISTRIES_CONF || DEFAULT_REGISTRIES_CONF): RegistriesConf {
  const conf: RegistriesConf = { files: [], unqualifiedSearch: [], registries: [] };
  const files = [file];
  const dropDir = `${file}.d`;
  try {
    for (const f of fs.readdirSync(dropDir).filter((x) => x.endsWith('.conf')).sort()) files.push(path.join(dropDir, f));
  } catch {
    /* no drop-ins */
  }
  let sawSearch = false;
  for (const f of files) {
    const text = readConf(f);
    if (text === null) continue;
    conf.files.push(f);
    const t = parseToml(text, f);
    if (t['unqualified-search-registries'] !== undefined) {
      conf.unqualifiedSearch = strList(t['unqualified-search-registries']);
      sawSearch = true;
    }
    const v1 = t.registries;
    if (isTable(v1)) {
      const search = isTable(v1.search) ? strList(v1.search.registries) : [];
      if (!sawSearch && search.length) conf.unqualifiedSearch = search;
      for (const loc of isTable(v1.insecure) ? strList(v1.insecure.registries) : []) conf.registries.push({ prefix: loc, location: loc, insecure: true, blocked: false });
      for (const loc of isTable(v1.block) ? strList(v1.block.registries) : []) conf.registries.push({ prefix: loc, location: loc, insecure: false, blocked: true });
    }
    const regs = t.registry;
    if (Array.isArray(regs)) {
      for (const r of regs) {
        if (!isTable(r)) continue;
        const location = typeof r.location === 'string' ? r.location : '';
        const prefix = typeof r.prefix === 'string' && r.prefix !== '' ? r.prefix : location;
        if (prefix === '') continue;
        // A later entry for the same prefix replaces the earlier one (drop-ins override).
        conf.registries = conf.registries.filter((e) => e.prefix !== prefix);
        conf.registries.push({ prefix, location: location || prefix, insecure: r.insecure === true, blocked: r.blocked === true });
      }
    }
  }
  return conf;
}

/** The `[[registry]]` entry whose prefix matches `host/repo` longest (containers/image rules). */
export function findRegistryEntry(conf: RegistriesConf, hostAndRepo: string): RegistryEntry | undefined {
  let best: RegistryEntry | undefined;
  for (const e of conf.registries) {
    const p = e.prefix.replace(/\/+$/, '');
    const hit = p.startsWith('*.')
      ? hostAndRepo.split('/')[0]!.endsWith(p.slice(1))
      : hostAndRepo === p || hostAndRepo.startsWith(`${p}/`);
    if (hit && (!best || p.length > best.prefix.length)) best = e;
  }
  return best;
}
