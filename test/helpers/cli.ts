/** Run the real CLI (bin/run.js) as a subprocess with an isolated store and checkout root. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as path from 'node:path';
import { BIN } from './fixtures.js';

export interface CliEnv {
  repo: string;
  checkout: string;
  extra?: Record<string, string>;
}

export function cliEnvFor(dir: string): CliEnv {
  return { repo: path.join(dir, 'ck', '.storage', 'ostree'), checkout: path.join(dir, 'ck') };
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function atomic(env: CliEnv, args: string[], input?: string): CliResult {
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    input: input ?? '',
    env: {
      ...process.env,
      ATOMIC_OSTREE_REPO: env.repo,
      ATOMIC_OSTREE_CHECKOUT_PATH: env.checkout,
      ATOMIC_CONF: '/nonexistent/atomic.conf',
      ...(env.extra ?? {}),
    },
    timeout: 120_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Run the CLI against a scratch sysroot (store, checkouts and /etc files all below it). */
export function atomicSysroot(sysroot: string, args: string[], extra: Record<string, string> = {}, input = ''): CliResult {
  const env: NodeJS.ProcessEnv = { ...process.env, ATOMIC_SYSROOT: sysroot, ...extra };
  delete env.ATOMIC_OSTREE_REPO;
  delete env.ATOMIC_OSTREE_CHECKOUT_PATH;
  delete env.ATOMIC_CONF;
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', input, env, timeout: 120_000 });
  return { status: r.status ?? (r.signal ? 128 + (r.signal === 'SIGKILL' ? 9 : 15) : -1), stdout: r.stdout, stderr: r.stderr };
}
