/**
 * The `--sysroot` prefix (ATOMIC_SYSROOT): how a host path maps to the directory we write below,
 * and back to the path the target system sees. Below both src/app and src/deploy.
 */
import { secureJoin } from '../util/safe-join.js';

/**
 * An absolute host path below the sysroot ('/' = no prefix). Below a sysroot every existing
 * component is resolved the way the target system sees it and never leaves the sysroot (a
 * `var/run` or `etc/systemd/system` that is a symlink to the build host's own directory is
 * followed inside the sysroot instead): util/safe-join.ts.
 */
export function underRoot(sysroot: string, p: string): string {
  return sysroot === '/' ? p : secureJoin(sysroot, p);
}

/** The path as the target system sees it (strip the sysroot prefix): used inside units, links, info. */
export function hostView(sysroot: string, p: string): string {
  if (sysroot === '/') return p;
  return p === sysroot ? '/' : p.startsWith(`${sysroot}/`) ? p.slice(sysroot.length) : p;
}
