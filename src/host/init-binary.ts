/** The host's minimal init for `--init` (render/init-process.ts): Debian's catatonit. */
import * as fs from 'node:fs';
import { AtomicError } from '../util/errors.js';

const CANDIDATES = ['/usr/bin/catatonit', '/usr/libexec/podman/catatonit', '/usr/libexec/catatonit/catatonit'];

export function findInitBinary(): string {
  for (const p of CANDIDATES) {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  throw new AtomicError('NOT_FOUND', `--init needs catatonit on the host (looked for ${CANDIDATES.join(', ')})`, { suggestions: ['Install it: apt-get install catatonit'] });
}

/** `--stop-timeout N` and `--init` as the values they persist as (STOP_TIMEOUT, ATOMIC_INIT). */
export function stopFlagValues(f: { 'stop-timeout'?: number; init?: boolean }): string[] {
  const out: string[] = [];
  if (f['stop-timeout'] !== undefined) out.push(`STOP_TIMEOUT=${f['stop-timeout']}`);
  if (f.init) out.push(`ATOMIC_INIT=${findInitBinary()}`);
  return out;
}
