/**
 * Paths to the shared, real fixtures. `fixtureImages()` builds `../shared/fixtures/make-images.sh`
 * output once per machine (cached under /tmp, keyed by the script's content) and returns its dir.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Project root (works from dist/test/helpers and test/helpers). */
export const PROJECT_ROOT = (() => {
  let d = here;
  while (!fs.existsSync(path.join(d, 'package.json'))) d = path.dirname(d);
  return d;
})();
export const SHARED = process.env.ATOMIC_SHARED_DIR ?? path.resolve(PROJECT_ROOT, '..', 'shared');
export const VECTORS_DIR = path.join(SHARED, 'ostree-vectors');
export const BIN = path.join(PROJECT_ROOT, 'bin', 'run.js');

let cached: string | undefined;
export function fixtureImages(): string {
  if (cached) return cached;
  const script = path.join(SHARED, 'fixtures', 'make-images.sh');
  const key = createHash('sha256').update(fs.readFileSync(script)).digest('hex').slice(0, 12);
  const dir = path.join(os.tmpdir(), `atomic-fixtures-${key}`);
  if (!fs.existsSync(path.join(dir, 'SUMMARY.txt'))) {
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    execFileSync('bash', [script, tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  }
  cached = dir;
  return dir;
}

/** A fresh temp directory under /var/tmp (same fs as most repos; not tmpfs), removed by the caller. */
export function makeTempDir(prefix = 'atomic-test-'): string {
  const base = process.env.ATOMIC_TEST_TMP ?? '/var/tmp';
  return fs.mkdtempSync(path.join(base, prefix));
}
