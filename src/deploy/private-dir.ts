/** Our state directories (CK/.atomic and below: journal, locks, staging, quarantine, last results). */
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Create `dir` 0700 whatever the umask, and tighten it and its parent when they already exist
 * with group/other access (a journal there could be swapped).
 */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (let d = dir, i = 0; i < 2 && path.basename(d) !== ''; d = path.dirname(d), i++) {
    try {
      const st = fs.lstatSync(d);
      if (st.isDirectory() && st.uid === (process.geteuid?.() ?? 0) && (st.mode & 0o077) !== 0) fs.chmodSync(d, 0o700);
    } catch {
      /* raced away: the next write fails clearly */
    }
  }
}
