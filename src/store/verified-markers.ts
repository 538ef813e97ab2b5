/**
 * The verified-object marker file's format (object-verify.ts has the rules): one line
 * `<checksum> <signature>\n` per object, the signature taken from an lstat (or fstat) of the
 * object. Read by the checking-out thread and by the store's I/O workers (a checkout's parts
 * compare each object they link against it: checkout-part.ts), so only `node:` modules here.
 */
import * as fs from 'node:fs';

/** An object's marker signature: `<dev> <ino> <size> <mode> <uid> <gid> <mtimeMs>`. */
export function signature(st: fs.Stats): string {
  return `${st.dev} ${st.ino} ${st.size} ${st.mode} ${st.uid} ${st.gid} ${st.mtimeMs}`;
}

/** checksum -> signature of every marker in `file` (empty when it cannot be read). */
export function loadMarkers(file: string): Map<string, string> {
  const out = new Map<string, string>();
  let text: string;
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    // a torn line (crash while appending) holds a prefix of a signature, which never equals one
    if (line.length < 66 || line.charCodeAt(64) !== 32) continue;
    out.set(line.slice(0, 64), line.slice(65));
  }
  return out;
}

/**
 * The marker file read once for the many lookups of a checkout's parts, as loadMarkers reads it
 * (the last line for a checksum wins; a torn last line matches nothing), with one string per
 * line (its checksum) instead of three: each store worker reads it per checkout, and the
 * signatures stay in the file's text.
 */
export class MarkerIndex {
  /** checksum -> offset of its signature in `text` */
  private readonly at = new Map<string, number>();
  private readonly text: string;

  constructor(file: string) {
    try {
      this.text = fs.readFileSync(file, 'latin1');
    } catch {
      this.text = '';
    }
    const t = this.text;
    for (let i = 0; i < t.length;) {
      let e = t.indexOf('\n', i);
      if (e < 0) e = t.length;
      if (e - i >= 66 && t.charCodeAt(i + 64) === 32) this.at.set(t.slice(i, i + 64), i + 65);
      i = e + 1;
    }
  }

  /** Whether the marker of `c` records exactly `sig`. */
  matches(c: string, sig: string): boolean {
    const o = this.at.get(c);
    if (o === undefined) return false;
    const end = o + sig.length;
    return (end === this.text.length || this.text.charCodeAt(end) === 10) && this.text.startsWith(sig, o);
  }
}
