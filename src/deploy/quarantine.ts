/**
 * Image digests a container refused after a failed health gate: CK/.atomic/quarantine/NAME.json
 * `{"name": NAME, "quarantined": [{"digest", "image", "time", "reason"}]}`. `auto-update` skips
 * a quarantined digest (app/containers/auto-update.ts); an update by hand to it is allowed and
 * lifts it when it passes the gate, or when it was deployed without a watch (docs/auto-update.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { atomicWrite } from '../util/atomic-write.js';
import { ensurePrivateDir } from './private-dir.js';
import type { ContainerPaths } from './layout.js';

export interface QuarantineEntry {
  /** The image id of the deployment (manifest digest hex, as in info.revision). */
  digest: string;
  image: string;
  /** ISO 8601. */
  time: string;
  reason: string;
}

export function quarantineFile(cp: ContainerPaths): string {
  return path.join(cp.stateDir, 'quarantine', `${cp.name}.json`);
}

export function readQuarantine(cp: ContainerPaths): QuarantineEntry[] {
  try {
    const d = JSON.parse(fs.readFileSync(quarantineFile(cp), 'utf8')) as { quarantined?: QuarantineEntry[] };
    return Array.isArray(d.quarantined) ? d.quarantined.filter((e) => e && typeof e.digest === 'string') : [];
  } catch {
    return [];
  }
}

export function isQuarantined(cp: ContainerPaths, digest: string): QuarantineEntry | null {
  return readQuarantine(cp).find((e) => e.digest === digest) ?? null;
}

async function save(cp: ContainerPaths, list: QuarantineEntry[]): Promise<void> {
  const f = quarantineFile(cp);
  if (list.length === 0) {
    fs.rmSync(f, { force: true });
    return;
  }
  ensurePrivateDir(path.dirname(f));
  await atomicWrite(f, JSON.stringify({ name: cp.name, quarantined: list }, null, 4) + '\n', { mode: 0o600 });
}

export async function addQuarantine(cp: ContainerPaths, e: Omit<QuarantineEntry, 'time'>): Promise<void> {
  const list = readQuarantine(cp).filter((q) => q.digest !== e.digest);
  list.push({ ...e, time: new Date().toISOString() });
  await save(cp, list.slice(-20));
}

export async function liftQuarantine(cp: ContainerPaths, digest: string): Promise<boolean> {
  const list = readQuarantine(cp);
  const kept = list.filter((q) => q.digest !== digest);
  if (kept.length === list.length) return false;
  await save(cp, kept);
  return true;
}

/** Forget everything (uninstall). */
export function dropQuarantine(cp: ContainerPaths): void {
  fs.rmSync(quarantineFile(cp), { force: true });
}
