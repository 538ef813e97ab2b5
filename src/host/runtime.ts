/**
 * The OCI runtime (runc): which one (§2.8: --runtime > atomic.conf runtime (root) > info.runtime on
 * update > $RUNC_PATH > /usr/bin/runc) and what it supports (--systemd-cgroup, run --pid-file).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AtomicError } from '../util/errors.js';
import { atomicWrite } from '../util/atomic-write.js';

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
export function checkRuntime(runtime: string, cacheDir?: string): void {
  if (cacheDir && cachedProbe(runtime, cacheDir)) return;
  const r = spawnSync(runtime, ['--version'], { stdio: 'ignore' });
  if (r.error || r.status === null) {
    throw new AtomicError('NOT_FOUND', `Cannot install the container: the runtime ${runtime} is not installed`, {
      suggestions: ['Install runc (apt-get install runc), or pass --runtime PATH.'],
    });
  }
}

export function runtimeFeatures(runtime: string, userMode: boolean, cacheDir?: string): RuntimeFeatures {
  const cached = cacheDir ? cachedProbe(runtime, cacheDir) : null;
  let f: RuntimeFeatures;
  if (cached) f = cached;
  else {
    const help = spawnSync(runtime, ['--help'], { encoding: 'utf8' });
    const runHelp = spawnSync(runtime, ['run', '--help'], { encoding: 'utf8' });
    f = {
      systemdCgroup: `${help.stdout ?? ''}${help.stderr ?? ''}`.includes('--systemd-cgroup'),
      pidFile: `${runHelp.stdout ?? ''}${runHelp.stderr ?? ''}`.includes('--pid-file'),
    };
    // only what a runtime that runs (--help answered) said is worth remembering
    if (cacheDir && help.status === 0) saveProbe(runtime, cacheDir, f);
  }
  return { systemdCgroup: !userMode && f.systemdCgroup, pidFile: f.pidFile };
}

/*
 * Probe cache: what `--help` / `run --help` said about a runtime binary, in CACHE_DIR/runtime-probe.json
 * (the store's state dir), keyed by the binary's real path, device, inode, size, mtime and ctime, so an
 * install or update does not start the runtime three times just to read its help. Trusted only when
 * it is a regular file of ours that nobody else can write; a replaced or upgraded binary misses.
 */
const PROBE_FILE = 'runtime-probe.json';

function binaryKey(runtime: string): string | null {
  if (!path.isAbsolute(runtime)) return null;
  try {
    const real = fs.realpathSync(runtime);
    const st = fs.statSync(real);
    if (!st.isFile()) return null;
    return `${real}:${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch {
    return null;
  }
}

function readProbes(cacheDir: string): Record<string, RuntimeFeatures> {
  const file = path.join(cacheDir, PROBE_FILE);
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile() || st.uid !== (process.geteuid?.() ?? st.uid) || (st.mode & 0o022) !== 0 || st.size > 64 * 1024) return {};
    const data = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, RuntimeFeatures>) : {};
  } catch {
    return {};
  }
}

function cachedProbe(runtime: string, cacheDir: string): RuntimeFeatures | null {
  const key = binaryKey(runtime);
  const c = key ? readProbes(cacheDir)[key] : undefined;
  return c && typeof c.systemdCgroup === 'boolean' && typeof c.pidFile === 'boolean' ? { systemdCgroup: c.systemdCgroup, pidFile: c.pidFile } : null;
}

function saveProbe(runtime: string, cacheDir: string, f: RuntimeFeatures): void {
  const key = binaryKey(runtime);
  if (!key) return;
  try {
    const all = readProbes(cacheDir);
    const kept = Object.fromEntries(
      Object.entries(all)
        .filter(([k]) => !k.startsWith(`${key.split(':')[0]}:`))
        .slice(-7),
    );
    fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    void atomicWrite(path.join(cacheDir, PROBE_FILE), JSON.stringify({ ...kept, [key]: f }) + '\n', { mode: 0o644, fsync: false }).catch(() => undefined);
  } catch {
    /* a cache: never fails the operation */
  }
}

/** The state root runc / crun use by default when run as root (no --root), else null. */
function defaultStateDir(runtime: string): string | null {
  if (process.getuid?.() !== 0) return null;
  const base = path.basename(runtime);
  return base === 'runc' || base === 'crun' ? `/run/${base}` : null;
}

/**
 * Remove what is left of the runtime container NAME after its unit stopped: `<runtime> state NAME`
 * succeeds only while the runtime still has state for it (running, created or stopped), and then
 * `<runtime> delete -f NAME` kills what still runs and removes the state (and its cgroup or
 * `runc-NAME.scope`). Needed because in atomic's foreground unit form (`runc run NAME` as the main
 * process) a runc that is killed (SIGKILL, stop timeout) leaves the container running outside the
 * unit's cgroup, and its state then makes every later `runc run NAME` fail with "container with id
 * exists". Returns true when something was removed. Quiet when there is nothing to do.
 */
export function reapContainer(runtime: string, name: string, echo?: (line: string) => void): boolean {
  // runc and crun run as root keep a container's state in /run/<runtime>/NAME: without that
  // directory there is nothing to reap, and a process start (~0.1 s, inside the update's
  // downtime window) is saved. Other runtimes, or other users: ask the runtime.
  const stateDir = defaultStateDir(runtime);
  if (stateDir !== null && !fs.existsSync(path.join(stateDir, name))) return false;
  const st = spawnSync(runtime, ['state', name], { stdio: 'ignore', timeout: 30_000 });
  if (st.error || st.status !== 0) return false;
  echo?.(`${path.basename(runtime)} delete -f ${name}`);
  const r = spawnSync(runtime, ['delete', '-f', name], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  if (r.status !== 0) {
    throw new AtomicError('IO', `${runtime} delete -f ${name} failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`, {
      suggestions: [`Remove the container by hand: ${runtime} delete -f ${name}`],
    });
  }
  return true;
}

/**
 * The bundle of the runtime's container NAME, from `<runtime> state NAME` (the OCI runtime
 * spec's state: `bundle` is required), or null when the runtime has no container NAME (as
 * reapContainer: no process when runc/crun run as root have no state directory for it).
 * Crash recovery asks which deployment a running unit's container was started from.
 */
export function containerBundle(runtime: string, name: string): string | null {
  const stateDir = defaultStateDir(runtime);
  if (stateDir !== null && !fs.existsSync(path.join(stateDir, name))) return null;
  const st = spawnSync(runtime, ['state', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 });
  if (st.error || st.status !== 0) return null;
  try {
    const bundle = (JSON.parse(st.stdout) as { bundle?: unknown }).bundle;
    return typeof bundle === 'string' && bundle !== '' ? bundle : null;
  } catch {
    return null;
  }
}
