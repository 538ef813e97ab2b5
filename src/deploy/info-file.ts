/** The `info` file of a deployment (§2.7): JSON, indent 4, trailing newline, atomic's keys. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { atomicWrite } from '../util/atomic-write.js';
import { AtomicError } from '../util/errors.js';

export interface DeploymentInfo {
  image: string;
  revision: string;
  'ostree-commit': string;
  created: number;
  values: Record<string, string>;
  'has-container-service': boolean;
  'installed-files': string[];
  'installed-files-checksum': Record<string, string>;
  'installed-files-template': string[];
  'rename-installed-files': Record<string, string>;
  'rpm-installed': string | null;
  'system-package': string;
  remote: string | null;
  'use-links': boolean;
  runtime: string;
  /** The auto-update policy (deploy/auto-update.ts): from `--auto-update` (kept across updates) or the image label. */
  'auto-update'?: { policy: 'registry' | 'local' | 'disabled'; source: 'flag' | 'label' } | null;
}

/** The text of an `info` file. */
export function infoText(info: DeploymentInfo): string {
  return JSON.stringify(info, null, 4) + '\n';
}

export async function writeInfo(slotDir: string, info: DeploymentInfo): Promise<void> {
  await atomicWrite(path.join(slotDir, 'info'), infoText(info));
}

/** writeInfo unless the file already holds exactly this (no write, no fsync: activation runs it between stop and start). */
export async function writeInfoIfChanged(slotDir: string, info: DeploymentInfo): Promise<void> {
  let now: string | null = null;
  try {
    now = fs.readFileSync(path.join(slotDir, 'info'), 'utf8');
  } catch {
    /* missing or unreadable: write it */
  }
  if (now !== infoText(info)) await writeInfo(slotDir, info);
}

export function readInfo(slotDir: string): DeploymentInfo {
  const file = path.join(slotDir, 'info');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new AtomicError('CONTAINER_NOT_FOUND', `cannot read ${file}: ${(e as Error).message}`, { suggestions: ['The deployment is incomplete; reinstall the container.'] });
  }
  try {
    return JSON.parse(text) as DeploymentInfo;
  } catch {
    throw new AtomicError('STORE_CORRUPT', `invalid JSON in ${file}`, { suggestions: ['Roll back to the other deployment, or uninstall and reinstall.'] });
  }
}
