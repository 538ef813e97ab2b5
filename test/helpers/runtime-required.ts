import * as fs from 'node:fs';
import { defaultRuntime } from '../../src/host/runtime.js';

/**
 * Suites that run containers need root and the OCI runtime. `npm test` runs as root and
 * scripts/ensure-tools.mjs installs runc, so a missing one is a broken set-up: fail loudly
 * with what to do instead of skipping the suite.
 */
export function requireRootAndRuntime(): void {
  if (process.geteuid?.() !== 0) throw new Error('this suite runs containers: run the tests as root (npm test does)');
  const rt = defaultRuntime();
  try {
    fs.accessSync(rt, fs.constants.X_OK);
  } catch {
    throw new Error(`this suite runs containers: the OCI runtime ${rt} is missing; run node scripts/ensure-tools.mjs (as root) to install runc`);
  }
}
