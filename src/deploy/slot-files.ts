/** Small file helpers for deployments: durable writes, copies, and syncfs of a checkout. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { atomicWrite, fsyncDir } from '../util/atomic-write.js';

/** Make everything under `dir` durable (one syncfs of its filesystem). */
export function syncFilesystem(dir: string): void {
  spawnSync('sync', ['-f', dir], { stdio: 'ignore' });
}

export async function writeDurable(file: string, text: string, mode = 0o644): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await atomicWrite(file, text, { mode });
}

export async function copyDurable(from: string, to: string): Promise<void> {
  await writeDurable(to, fs.readFileSync(from, 'utf8'));
}

export async function removeDurable(file: string): Promise<boolean> {
  try {
    fs.unlinkSync(file);
  } catch {
    return false;
  }
  await fsyncDir(path.dirname(file));
  return true;
}

export function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
