/**
 * Read-only scan of the checkout root for installed system containers (CK/NAME -> NAME.N with an
 * `info` file). Used to mark images as in use and to keep their layers on prune.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppContext } from '../context.js';

export interface DeploymentInfoRef {
  name: string;
  slot: string;
  image: string;
  revision: string;
  ostreeCommit: string;
}

/** Every deployment slot (current and rollback) with a readable `info`. */
export function scanDeployments(checkoutRoot: string): DeploymentInfoRef[] {
  let names: string[];
  try {
    names = fs.readdirSync(checkoutRoot);
  } catch {
    return [];
  }
  const out: DeploymentInfoRef[] = [];
  for (const n of names) {
    const m = /^(.+)\.([01])$/.exec(n);
    if (!m || n.startsWith('.')) continue;
    try {
      if (!fs.lstatSync(path.join(checkoutRoot, n)).isDirectory()) continue; // a link named NAME.N is the container NAME.N, not a slot
    } catch {
      continue;
    }
    try {
      const info = JSON.parse(fs.readFileSync(path.join(checkoutRoot, n, 'info'), 'utf8')) as Record<string, unknown>;
      out.push({
        name: m[1],
        slot: m[2],
        image: String(info.image ?? ''),
        revision: String(info.revision ?? ''),
        ostreeCommit: String(info['ostree-commit'] ?? ''),
      });
    } catch {
      /* not a deployment (or a half-written one): ignored here */
    }
  }
  return out;
}

/** Image ids and names used by any deployment slot. */
export async function usedImageIds(ctx: AppContext): Promise<Set<string>> {
  const s = new Set<string>();
  for (const d of scanDeployments(ctx.paths.checkoutRoot)) {
    if (d.revision) s.add(d.revision);
    if (d.image) s.add(d.image);
  }
  return s;
}
