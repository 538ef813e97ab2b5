/**
 * Where the store and the checkouts live (reference §2.1, §2.2), with our `--sysroot` prefix.
 *
 * Repo, first match wins: $ATOMIC_OSTREE_REPO; user mode: $XDG_DATA_HOME/containers/atomic/repo
 * (else ~/.local/share/...); atomic.conf `ostree_repository`; /ostree/repo when it exists and is on
 * the checkout filesystem; else CK/.storage/ostree. Mode for a new repo: bare (root) / bare-user.
 * Checkout root: $ATOMIC_OSTREE_CHECKOUT_PATH; atomic.conf `checkout_path`; user mode XDG path;
 * /var/lib/containers/atomic.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { readAtomicConf } from './atomic-conf.js';
import { underRoot } from './sysroot.js';
import { atomicEnv } from '../util/env.js';

export interface StorePaths {
  sysroot: string;
  userMode: boolean;
  repoPath: string;
  repoMode: 'bare' | 'bare-user';
  checkoutRoot: string;
  /** Preinstalled containers (rpm-owned, read-only). */
  preinstalledRoot: string;
  /** Host config directories (for units and tmpfiles), below sysroot. */
  unitDir: string;
  tmpfilesDir: string;
  conf: Record<string, string>;
}

export interface PathInputs {
  sysroot?: string;
  env?: NodeJS.ProcessEnv;
  euid?: number;
  home?: string;
}

export function resolveStorePaths(inp: PathInputs = {}): StorePaths {
  const env = inp.env ?? process.env;
  const euid = inp.euid ?? (typeof process.geteuid === 'function' ? process.geteuid() : 0);
  const sysroot = path.resolve(inp.sysroot ?? atomicEnv('ATOMIC_SYSROOT', env) ?? '/');
  const userMode = euid !== 0;
  const home = inp.home ?? env.HOME ?? os.homedir();
  const xdgData = env.XDG_DATA_HOME || path.join(home, '.local', 'share');
  const conf = readAtomicConf(underRoot(sysroot, atomicEnv('ATOMIC_CONF', env) ?? '/etc/atomic.conf'));

  let checkoutRoot: string;
  const envCheckout = atomicEnv('ATOMIC_OSTREE_CHECKOUT_PATH', env);
  if (envCheckout) checkoutRoot = envCheckout;
  else if (conf.checkout_path) checkoutRoot = underRoot(sysroot, conf.checkout_path);
  else if (userMode) checkoutRoot = path.join(xdgData, 'containers', 'atomic');
  else checkoutRoot = underRoot(sysroot, '/var/lib/containers/atomic');

  let repoPath: string;
  const envRepo = atomicEnv('ATOMIC_OSTREE_REPO', env);
  if (envRepo) repoPath = envRepo;
  else if (userMode) repoPath = path.join(xdgData, 'containers', 'atomic', 'repo');
  else if (conf.ostree_repository) repoPath = underRoot(sysroot, conf.ostree_repository);
  else if (systemRepoUsable(sysroot, checkoutRoot)) repoPath = underRoot(sysroot, '/ostree/repo');
  else repoPath = path.join(checkoutRoot, '.storage', 'ostree');

  const configHome = env.XDG_CONFIG_HOME || path.join(home, '.config');
  return {
    sysroot,
    userMode,
    repoPath,
    repoMode: userMode ? 'bare-user' : 'bare',
    checkoutRoot,
    preinstalledRoot: underRoot(sysroot, '/usr/lib/containers/atomic'),
    unitDir: userMode ? path.join(configHome, 'systemd', 'user') : underRoot(sysroot, '/etc/systemd/system'),
    tmpfilesDir: userMode ? path.join(xdgData, 'containers', 'tmpfiles') : underRoot(sysroot, '/etc/tmpfiles.d'),
    conf,
  };
}

/** /ostree/repo is used only if it exists and lives on the same filesystem as CK/.storage (§2.1 step 4). */
function systemRepoUsable(sysroot: string, checkoutRoot: string): boolean {
  const cfg = underRoot(sysroot, '/ostree/repo/config');
  try {
    const a = fs.statSync(cfg);
    let probe = path.join(checkoutRoot, '.storage');
    while (!fs.existsSync(probe)) probe = path.dirname(probe);
    return fs.statSync(probe).dev === a.dev;
  } catch {
    return false;
  }
}
