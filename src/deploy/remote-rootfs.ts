/** atomic's `--rootfs PATH` ("remote" rootfs, §2.12): where the rootfs of such a deployment is. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeployContext } from './context.js';
import { underRoot } from '../host/sysroot.js';
import { AtomicError } from '../util/errors.js';

/**
 * atomic's --rootfs resolution (§2.12): PATH must exist; PATH/rootfs is the rootfs when present,
 * else PATH itself when it looks like one (has usr/); anything else is refused.
 */
export function resolveRemoteRootfs(ctx: DeployContext, given: string): string {
  const abs = given.startsWith('/') ? underRoot(ctx.paths.sysroot, given) : path.resolve(given);
  let real: string;
  try {
    real = realpathUnder(ctx.paths.sysroot, abs);
  } catch {
    throw new AtomicError('NOT_FOUND', "The container's rootfs is set to remote, but the remote rootfs does not exist", {
      suggestions: [`Check the path given to --rootfs: ${given}`],
    });
  }
  if (fs.existsSync(path.join(real, 'rootfs'))) return path.join(real, 'rootfs');
  if (fs.existsSync(path.join(real, 'usr'))) return real;
  throw new AtomicError('USAGE', '--remote was specified but the given location does not contain a rootfs', {
    suggestions: [`${given} must be a rootfs (with usr/) or a directory holding rootfs/`],
  });
}

/** realpath that re-roots absolute symlink targets at the sysroot (links below a sysroot hold target-system paths). */
function realpathUnder(sysroot: string, p: string): string {
  if (sysroot === '/' || !p.startsWith(`${sysroot}/`)) return fs.realpathSync(p);
  let parts = path.relative(sysroot, p).split('/').filter(Boolean);
  let cur = sysroot;
  for (let hops = 0; parts.length;) {
    const next = path.join(cur, parts.shift() as string);
    const st = fs.lstatSync(next);
    if (!st.isSymbolicLink()) {
      cur = next;
      continue;
    }
    if (++hops > 40) throw new Error(`too many symbolic links at ${next}`);
    const t = fs.readlinkSync(next);
    const target = t.startsWith('/') ? path.join(sysroot, t) : path.join(cur, t);
    parts = [...path.relative(sysroot, target).split('/').filter(Boolean), ...parts];
    cur = sysroot;
  }
  return cur;
}
