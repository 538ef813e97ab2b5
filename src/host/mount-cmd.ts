/** Thin wrappers over mount(8)/umount(8) for read-only bind mounts (root only). */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export function bindMountReadOnly(src: string, dest: string): string | null {
  const a = spawnSync('mount', ['--bind', src, dest], { encoding: 'utf8' });
  if (a.status !== 0) return (a.stderr || a.error?.message || 'mount failed').trim();
  const b = spawnSync('mount', ['-o', 'remount,ro,bind', dest], { encoding: 'utf8' });
  if (b.status !== 0) {
    spawnSync('umount', [dest]);
    return (b.stderr || 'remount failed').trim();
  }
  return null;
}

export function unmount(dest: string): string | null {
  const r = spawnSync('umount', [dest], { encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr || r.error?.message || 'umount failed').trim();
}

/** Whether `dir` is a mount point (it appears in /proc/self/mountinfo). */
export function isMountPoint(dir: string): boolean {
  try {
    const info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    const esc = dir.replace(/\\/g, '\\134').replace(/ /g, '\\040').replace(/\n/g, '\\012').replace(/\t/g, '\\011');
    return info.split('\n').some((l) => l.split(' ')[4] === esc);
  } catch {
    return false;
  }
}
