/**
 * The TOML subset our configuration files use (containers-registries.conf(5) and its drop-ins):
 * comments, tables, arrays of tables, dotted keys, strings (basic and literal), booleans,
 * integers and (multi-line) arrays of those. Anything else is a clear error naming the file and
 * the line; there is no silent partial parse.
 */
import { AtomicError } from './errors.js';

export type TomlValue = string | boolean | number | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

function confError(file: string, line: number, msg: string, suggestions: string[]): AtomicError {
  return new AtomicError('USAGE', `${file}:${line}: ${msg}`, { ref: file, suggestions });
}

/** Parse `text` (the TOML subset above); a syntax error is a USAGE error naming `file` and the line. */
export function parseTomlSubset(text: string, file: string, suggestions: string[] = ['Fix the TOML syntax of the file.']): TomlTable {
  const root: TomlTable = {};
  let cur: TomlTable = root;
  let i = 0;
  let line = 1;
  const n = text.length;
  const err = (m: string): AtomicError => confError(file, line, m, suggestions);

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
