/**
 * Whether `host/unit-enable.ts` creates exactly what this host's systemctl creates: checked once per
 * systemctl binary by a twin run (the real `systemctl --root=A enable` and ours on B, same unit files
 * covering every shape we handle, compared entry by entry: names, types, modes, link targets), and
 * remembered in CACHE_DIR/systemctl-probe.json keyed by the binary's real path, device, inode, size,
 * mtime and ctime (an upgraded systemctl is checked again). Trusted only when the cache file is a
 * regular file of ours that nobody else can write; any doubt means "not verified" (run systemctl).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { tempNameFor } from '../util/atomic-write.js';
import { applyEnablePlan, planOfflineEnable } from './unit-enable.js';

const PROBE_FILE = 'systemctl-probe.json';

/** The file `spawn(BIN)` runs: BIN itself when it has a slash, else the first executable in $PATH. */
export function resolveBinary(bin: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (bin.includes('/')) return bin;
  for (const d of (env.PATH ?? '').split(':')) {
    if (!d.startsWith('/')) continue;
    const p = path.join(d, bin);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return null;
}

function binaryKey(file: string): string | null {
  try {
    const real = fs.realpathSync(file);
    const st = fs.statSync(real);
    return st.isFile() ? `${real}:${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : null;
  } catch {
    return null;
  }
}

function readVerdicts(cacheDir: string): Record<string, boolean> {
  const file = path.join(cacheDir, PROBE_FILE);
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile() || st.uid !== (process.geteuid?.() ?? st.uid) || (st.mode & 0o022) !== 0 || st.size > 64 * 1024) return {};
    const data = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, boolean>) : {};
  } catch {
    return {};
  }
}

/** The unit files of the twin run: every [Install] shape `planOfflineEnable` handles, on a tree with existing state. */
export const PROBE_UNITS: Record<string, string> = {
  'probe-a.service':
    '[Unit]\nDescription=probe\n\n[Service]\nExecStart=/bin/true\n\n[Install]\n# comment\nWantedBy=multi-user.target\n  WantedBy = x.target  y.target\nRequiredBy=z.target\nAlias=probe-alias.service\n',
  'probe-b.service': '[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=gone.target\nWantedBy=\nWantedBy=multi-user.target\nRequiredBy=z.target z.target\n',
  'probe-c.service': '[Service]\nExecStart=/bin/true\n',
  'probe-d.service': '[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n',
};

/** Prepare a probe root: the unit files, an existing .wants dir and an existing link of probe-d. */
export function makeProbeRoot(root: string): void {
  const cfg = path.join(root, 'etc', 'systemd', 'system');
  fs.mkdirSync(path.join(cfg, 'multi-user.target.wants'), { recursive: true, mode: 0o755 });
  for (const [n, t] of Object.entries(PROBE_UNITS)) fs.writeFileSync(path.join(cfg, n), t, { mode: 0o644 });
  fs.symlinkSync('/etc/systemd/system/probe-d.service', path.join(cfg, 'multi-user.target.wants', 'probe-d.service'));
}

/** Every entry below ROOT: relative path, type and mode, and a symlink's target. */
export function treeListing(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d).sort()) {
      const p = path.join(d, e);
      const st = fs.lstatSync(p);
      out.push(`${path.relative(root, p)} ${st.mode.toString(8)}${st.isSymbolicLink() ? ` -> ${fs.readlinkSync(p)}` : ''}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

/**
 * Twin run below WORK: true when our links equal the real systemctl's for every probe unit, false
 * when they differ, null when the comparison could not be made (systemctl did not run or failed).
 */
export function twinRunMatches(systemctl: string, work: string): boolean | null {
  const real = path.join(work, 'real');
  const ours = path.join(work, 'ours');
  makeProbeRoot(real);
  makeProbeRoot(ours);
  for (const unit of Object.keys(PROBE_UNITS)) {
    const r = spawnSync(systemctl, [`--root=${real}`, 'enable', unit], { stdio: 'ignore' });
    if (r.status !== 0) return null;
    const plan = planOfflineEnable(ours, unit);
    if (!plan) return false;
    applyEnablePlan(plan);
  }
  return JSON.stringify(treeListing(real)) === JSON.stringify(treeListing(ours));
}

/**
 * Whether our offline enable is verified for the systemctl that `spawn(BIN)` runs; checks (one
 * twin run below CACHE_DIR) and remembers the verdict when not known yet.
 */
export function offlineEnableVerified(bin: string, cacheDir: string): boolean {
  const exe = resolveBinary(bin);
  const key = exe ? binaryKey(exe) : null;
  if (!exe || !key) return false;
  const known = readVerdicts(cacheDir)[key];
  if (typeof known === 'boolean') return known;
  let verdict: boolean | null = null;
  const work = path.join(cacheDir, `.enable-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(work, { mode: 0o700 });
    verdict = twinRunMatches(exe, work);
  } catch {
    verdict = null;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  // only a comparison that was made is remembered
  if (verdict === null) return false;
  try {
    const all = readVerdicts(cacheDir);
    const kept = Object.fromEntries(
      Object.entries(all)
        .filter(([k]) => !k.startsWith(`${key.split(':')[0]}:`))
        .slice(-7),
    );
    // a cache: replaced by rename, not fsynced (a lost verdict is checked again)
    const file = path.join(cacheDir, PROBE_FILE);
    const tmp = tempNameFor(file);
    try {
      fs.writeFileSync(tmp, JSON.stringify({ ...kept, [key]: verdict }) + '\n', { mode: 0o644, flag: 'wx' });
      fs.renameSync(tmp, file);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  } catch {
    /* a cache: never fails the operation */
  }
  return verdict;
}
