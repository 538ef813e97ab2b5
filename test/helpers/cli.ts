/** Run the real CLI (bin/run.js) as a subprocess with an isolated store and checkout root. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { strict as assert } from 'node:assert';
import { BIN, makeTempDir } from './fixtures.js';
import { withInvariants } from './invariants.js';
import { resolveStorePaths } from '../../src/host/paths.js';

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

/**
 * Run the CLI with `env`'s store and checkout root. After the step, the store and deployment
 * invariants are checked (test/helpers/invariants.ts): a problem the step added throws.
 */
export function atomic(env: CliEnv, args: string[], input?: string): CliResult {
  const target = { repo: env.extra?.ATOMIC_OSTREE_REPO ?? env.repo, checkoutRoot: env.extra?.ATOMIC_OSTREE_CHECKOUT_PATH ?? env.checkout };
  let killed = false;
  return withInvariants(
    target,
    () => {
      const r = runAtomic(env, args, input);
      killed = r.killed;
      return r.result;
    },
    () => killed,
    args.join(' '),
  );
}

function runAtomic(env: CliEnv, args: string[], input?: string): { result: CliResult; killed: boolean } {
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
  return { result: { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }, killed: r.status === null };
}

/**
 * Run the CLI against a scratch sysroot (store, checkouts and /etc files all below it), then check
 * the store and deployment invariants of that sysroot as `atomic` does.
 */
export function atomicSysroot(sysroot: string, args: string[], extra: Record<string, string> = {}, input = ''): CliResult {
  const env: NodeJS.ProcessEnv = { ...process.env, ATOMIC_SYSROOT: sysroot, ...extra };
  delete env.ATOMIC_OSTREE_REPO;
  delete env.ATOMIC_OSTREE_CHECKOUT_PATH;
  delete env.ATOMIC_CONF;
  const p = resolveStorePaths({ env });
  let killed = false;
  return withInvariants(
    { repo: p.repoPath, checkoutRoot: p.checkoutRoot },
    () => {
      const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', input, env, timeout: 120_000 });
      killed = r.status === null;
      return { status: r.status ?? (r.signal ? 128 + (r.signal === 'SIGKILL' ? 9 : 15) : -1), stdout: r.stdout, stderr: r.stderr };
    },
    () => killed,
    args.join(' '),
  );
}

/** The directories atomic expects below a sysroot (unit and tmpfiles.d directories, run, var/lib). */
export const SYSROOT_DIRS = ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib'];

/** A scratch sysroot: `work` a new temp directory (the caller removes it), `S` = work/sysroot with SYSROOT_DIRS. */
export function makeSysroot(prefix: string): { work: string; S: string } {
  const work = makeTempDir(prefix);
  const S = path.join(work, 'sysroot');
  for (const d of SYSROOT_DIRS) fs.mkdirSync(path.join(S, d), { recursive: true });
  return { work, S };
}

/** atomicSysroot that must exit 0; its stdout. */
export function okSysroot(sysroot: string, args: string[], extra: Record<string, string> = {}): string {
  const r = atomicSysroot(sysroot, args, extra);
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}
