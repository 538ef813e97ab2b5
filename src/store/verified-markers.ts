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
