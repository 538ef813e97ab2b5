/**
 * The `--sysroot` prefix (ATOMIC_SYSROOT): how a host path maps to the directory we write below,
 * and back to the path the target system sees. Below both src/app and src/deploy.
 */
import * as path from 'node:path';

/** Join an absolute host path below the sysroot ('/' = no prefix). */
export function underRoot(sysroot: string, p: string): string {
  return sysroot === '/' ? p : path.join(sysroot, p);
}

/** The path as the target system sees it (strip the sysroot prefix): used inside units, links, info. */
export function hostView(sysroot: string, p: string): string {
  if (sysroot === '/') return p;
  return p === sysroot ? '/' : p.startsWith(`${sysroot}/`) ? p.slice(sysroot.length) : p;
}
