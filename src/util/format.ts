import { AtomicError } from './errors.js';

/** Text formatting that matches atomic's output byte for byte (Python str.format widths, sizes, dates). */

/** The indent of every `--json` output: atomic printed JSON with `json.dumps(obj, indent=4)`. */
export const JSON_INDENT = 4;

/** Python "{0:W}" for strings: left-justify to W, never truncate. */
export function pad(s: string, w: number): string {
  return s.length >= w ? s : s + ' '.repeat(w - s.length);
}

/** One row: cells joined by single spaces, each padded to its width (like atomic's format strings). */
export function row(cells: Array<[string, number]>): string {
  return cells.map(([s, w]) => pad(s, w)).join(' ');
}

/** Python repr of round(x, 2): "1.85", "429.17", "1.0". */
function pyRound2(x: number): string {
  const r = Math.round(x * 100) / 100;
  return Number.isInteger(r) ? `${r}.0` : String(r);
}

/** atomic's util.convert_size: base 1000, two decimals, "0B" for zero. */
export function convertSize(size: number): string {
  if (size > 0) {
    const names = ['B', 'KB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
    const i = Math.min(names.length - 1, Math.floor(Math.log(size) / Math.log(1000) + 1e-12));
    const s = size / Math.pow(1000, i);
    if (s > 0) return `${pyRound2(s)} ${names[i]}`;
  }
  return '0B';
}

/** Local time as "YYYY-MM-DD HH:MM" (atomic's CREATED column). */
export function formatCreated(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/**
 * atomic's -f KEY=VALUE filters: case-insensitive substring match, ANDed. Invalid keys and
 * malformed filters give atomic's messages.
 */
export function parseFilters(filters: string[] | undefined, valid: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const f of filters ?? []) {
    const eq = f.indexOf('=');
    if (eq < 0) throw new AtomicError('USAGE', `The filter ${f} is not formatted correctly.  It should be VAR=VALUE`);
    const k = f.slice(0, eq);
    if (!valid.includes(k)) throw new AtomicError('USAGE', `The filter ${k} is not valid.  Please choose from [${valid.map((v) => `'${v}'`).join(', ')}]`);
    out.push([k, f.slice(eq + 1)]);
  }
  return out;
}
