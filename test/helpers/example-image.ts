/** Build OCI layouts from exports-examples/* (optionally modified) with scripts/build-example-image.mjs. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PROJECT_ROOT } from './fixtures.js';

/**
 * Copy exports-examples/<example> to `work/<label>`, apply `edit(dir)` (write/patch files under
 * dir/rootfs, dir/image.json), build an OCI layout at `work/<label>-oci` and return the pull source (`oci:DIR`; the image is stored
 * under image.json's name:tag).
 */
export function buildExampleImage(example: string, work: string, label: string, edit?: (dir: string) => void): string {
  const dir = path.join(work, label);
  fs.cpSync(path.join(PROJECT_ROOT, 'exports-examples', example), dir, { recursive: true });
  edit?.(dir);
  const out = path.join(work, `${label}-oci`);
  execFileSync(process.execPath, [path.join(PROJECT_ROOT, 'scripts', 'build-example-image.mjs'), dir, out], { stdio: 'ignore' });
  return `oci:${out}`;
}
