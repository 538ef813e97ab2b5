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
  return new TomlParser(text, file, suggestions).document();
}

/** A recursive-descent parser over `text`; `i` is the position, `line` the current line (for errors). */
class TomlParser {
  private readonly root: TomlTable = {};
  private i = 0;
  private line = 1;
  private readonly n: number;

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly suggestions: string[],
  ) {
    this.n = text.length;
  }

  private err(m: string): AtomicError {
    return confError(this.file, this.line, m, this.suggestions);
  }

  /** The whole document: table headers and `key = value` lines. */
  document(): TomlTable {
    const { text } = this;
    let cur = this.root;
    while (this.i < this.n) {
      this.skipWs(true);
      if (this.i >= this.n) break;
      if (text[this.i] === '[') cur = this.tableHeader();
      else {
        const keys = this.key();
        if (text[this.i] !== '=') throw this.err(`expected "=" after ${keys.join('.')}`);
        this.i++;
        this.setPath(cur, keys, this.value());
      }
      this.skipWs(false);
      if (this.i < this.n && text[this.i] !== '\n') throw this.err(`unexpected ${JSON.stringify(text.slice(this.i, this.i + 10))} at the end of a line`);
    }
    return this.root;
  }

  /** Blanks and comments; with `newlines` also line ends. */
  private skipWs(newlines: boolean): void {
    const { text, n } = this;
    while (this.i < n) {
      const c = text[this.i]!;
      if (c === ' ' || c === '\t' || c === '\r') this.i++;
      else if (c === '\n' && newlines) {
        this.i++;
        this.line++;
      } else if (c === '#') {
        while (this.i < n && text[this.i] !== '\n') this.i++;
      } else break;
    }
  }

  /** `[a.b]` or `[[a.b]]`: the table that following keys go to. */
  private tableHeader(): TomlTable {
    const { text } = this;
    const aot = text[this.i + 1] === '[';
    this.i += aot ? 2 : 1;
    const keys = this.key();
    if (text[this.i] !== ']' || (aot && text[this.i + 1] !== ']')) throw this.err('unterminated table header');
    this.i += aot ? 2 : 1;
    return this.tableAt(keys, aot);
  }

  /** A dotted key: bare or quoted parts. */
  private key(): string[] {
    const { text } = this;
    const parts: string[] = [];
    for (;;) {
      this.skipWs(false);
      let k: string;
      if (text[this.i] === '"' || text[this.i] === "'") k = this.string();
      else {
        const m = /^[A-Za-z0-9_-]+/.exec(text.slice(this.i, this.i + 256));
        if (!m) throw this.err(`expected a key, found ${JSON.stringify(text.slice(this.i, this.i + 10))}`);
        k = m[0];
        this.i += k.length;
      }
      parts.push(k);
      this.skipWs(false);
      if (text[this.i] === '.') {
        this.i++;
        continue;
      }
      return parts;
    }
  }

  /** A basic ("…", with escapes) or literal ('…') single-line string. */
  private string(): string {
    const { text, n } = this;
    const q = text[this.i]!;
    if (text.startsWith(q.repeat(3), this.i)) throw this.err('multi-line strings are not supported');
    this.i++;
    let out = '';
    while (this.i < n && text[this.i] !== q) {
      if (text[this.i] === '\n') throw this.err('unterminated string');
      if (q === '"' && text[this.i] === '\\') out += this.escape();
      else out += text[this.i++];
    }
    if (this.i >= n) throw this.err('unterminated string');
    this.i++;
    return out;
  }

  /** A backslash escape of a basic string. */
  private escape(): string {
    const { text } = this;
    const e = text[this.i + 1];
    const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', b: '\b', f: '\f' };
    if (e !== undefined && map[e] !== undefined) {
      this.i += 2;
      return map[e];
    }
    if (e === 'u' || e === 'U') {
      const len = e === 'u' ? 4 : 8;
      const hex = text.slice(this.i + 2, this.i + 2 + len);
      if (!/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== len) throw this.err('bad unicode escape');
      this.i += 2 + len;
      return String.fromCodePoint(parseInt(hex, 16));
    }
    throw this.err(`bad escape \\${e ?? ''}`);
  }

  private value(): TomlValue {
    this.skipWs(false);
    const c = this.text[this.i];
    if (c === '"' || c === "'") return this.string();
    if (c === '[') return this.array();
    if (c === '{') return this.inlineTable();
    return this.scalar();
  }

  /** `[v, v, …]`, over several lines if need be. */
  private array(): TomlValue[] {
    const { text } = this;
    this.i++;
    const arr: TomlValue[] = [];
    for (;;) {
      this.skipWs(true);
      if (text[this.i] === ']') {
        this.i++;
        return arr;
      }
      arr.push(this.value());
      this.skipWs(true);
      if (text[this.i] === ',') this.i++;
      else if (text[this.i] !== ']') throw this.err('expected "," or "]" in an array');
    }
  }

  /** `{ k = v, … }` */
  private inlineTable(): TomlTable {
    const { text } = this;
    this.i++;
    const t: TomlTable = {};
    for (;;) {
      this.skipWs(false);
      if (text[this.i] === '}') {
        this.i++;
        return t;
      }
      const k = this.key();
      if (text[this.i] !== '=') throw this.err('expected "=" in an inline table');
      this.i++;
      this.setPath(t, k, this.value());
      this.skipWs(false);
      if (text[this.i] === ',') this.i++;
    }
  }

  /** true, false or an integer (with `_` separators). */
  private scalar(): TomlValue {
    const m = /^(true|false|[+-]?[0-9][0-9_]*)/.exec(this.text.slice(this.i, this.i + 40));
    if (!m) throw this.err(`unsupported value ${JSON.stringify(this.text.slice(this.i, this.i + 20))}`);
    this.i += m[0].length;
    if (m[0] === 'true') return true;
    if (m[0] === 'false') return false;
    return Number(m[0].replace(/_/g, ''));
  }

  private setPath(t: TomlTable, keys: string[], v: TomlValue): void {
    let o = t;
    for (const k of keys.slice(0, -1)) {
      if (o[k] === undefined) o[k] = {};
      const next = o[k];
      if (typeof next !== 'object' || Array.isArray(next)) throw this.err(`key ${keys.join('.')} conflicts with an earlier value`);
      o = next;
    }
    o[keys[keys.length - 1]!] = v;
  }

  /** The table a header names (created as needed); `[[…]]` appends a new table to its array. */
  private tableAt(keys: string[], arrayOfTables: boolean): TomlTable {
    let o = this.root;
    keys.forEach((k, idx) => {
      const last = idx === keys.length - 1;
      let v = o[k];
      if (last && arrayOfTables) {
        if (v === undefined) v = o[k] = [];
        if (!Array.isArray(v)) throw this.err(`${keys.join('.')} is not an array of tables`);
        const t: TomlTable = {};
        v.push(t);
        o = t;
        return;
      }
      if (v === undefined) v = o[k] = {};
      if (Array.isArray(v)) {
        const lastT = v[v.length - 1];
        if (typeof lastT !== 'object' || Array.isArray(lastT)) throw this.err(`${keys.join('.')} is not a table`);
        o = lastT;
      } else if (typeof v === 'object') o = v;
      else throw this.err(`${keys.join('.')} is not a table`);
    });
    return o;
  }
}
