/**
 * The OCI runtime (runc): which one (§2.8: --runtime > atomic.conf runtime (root) > info.runtime on
 * update > $RUNC_PATH > /usr/bin/runc) and what it supports (--systemd-cgroup, run --pid-file).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AtomicError } from '../util/errors.js';

export interface RuntimeFeatures {
  systemdCgroup: boolean;
  pidFile: boolean;
}

/** $RUNC_PATH, else /usr/bin/runc (atomic's default) when present, else runc from PATH or /usr/sbin (Debian). */
export function defaultRuntime(): string {
  if (process.env.RUNC_PATH) return process.env.RUNC_PATH;
  const dirs = ['/usr/bin', ...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    const p = path.join(d, 'runc');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return '/usr/bin/runc';
}

/** atomic's check: `<runtime> --version` must run, else "Cannot install the container: the runtime X is not installed". */
export function checkRuntime(runtime: string): void {
  const r = spawnSync(runtime, ['--version'], { stdio: 'ignore' });
  if (r.error || r.status === null) {
    throw new AtomicError('NOT_FOUND', `Cannot install the container: the runtime ${runtime} is not installed`, {
      suggestions: ['Install runc (apt-get install runc), or pass --runtime PATH.'],
    });
  }
}

export function runtimeFeatures(runtime: string, userMode: boolean): RuntimeFeatures {
  const help = spawnSync(runtime, ['--help'], { encoding: 'utf8' });
  const runHelp = spawnSync(runtime, ['run', '--help'], { encoding: 'utf8' });
  return {
    systemdCgroup: !userMode && `${help.stdout ?? ''}${help.stderr ?? ''}`.includes('--systemd-cgroup'),
    pidFile: `${runHelp.stdout ?? ''}${runHelp.stderr ?? ''}`.includes('--pid-file'),
  };
}
