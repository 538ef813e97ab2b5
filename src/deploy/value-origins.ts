/**
 * Where the values of a deployment came from, read back from the deployment itself (its info and
 * the `/exports` of its checkout): the image's manifest.json defaultValues and the variables its
 * templates use. Used so that values keep their meaning across updates (docs/image-format.md,
 * "Values across updates"): `--set` values persist, image defaults follow the new image on
 * `--rebase`, `--reset KEY` drops a value, and a `--set KEY` no template uses is reported.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeploymentInfo } from './info-file.js';
import { identifiers } from '../render/python-template.js';
import { DEFAULT_SERVICE_TEMPLATE } from '../render/values.js';

/** Where a value of a deployment came from: `--set` (now or earlier), the image's manifest.json defaultValues, or atomic (the OS). */
export type ValueSource = 'set' | 'image' | 'os';

/** Values atomic computes itself (forced, or OS defaults when not --set). */
const OS_KEYS = new Set([
  'DESTDIR', 'NAME', 'EXEC_START', 'EXEC_STOP', 'EXEC_STARTPRE', 'EXEC_STOPPOST', 'HOST_UID', 'HOST_GID', 'IMAGE_NAME', 'IMAGE_ID',
  'RUN_DIRECTORY', 'PIDFILE', 'CONF_DIRECTORY', 'STATE_DIRECTORY', 'ALL_PROCESS_CAPABILITIES', 'RUNTIME', 'ATOMIC', 'UUID',
]);
/** Values atomic always recomputes (a --set of them is overwritten). */
const FORCED = new Set(['DESTDIR', 'NAME', 'EXEC_START', 'EXEC_STOP', 'EXEC_STARTPRE', 'EXEC_STOPPOST', 'HOST_UID', 'HOST_GID', 'IMAGE_NAME', 'IMAGE_ID']);

/** Where `value` of `key` came from, given the image's manifest.json defaultValues (`--set` when neither the image nor atomic gives it). */
export function valueSource(key: string, value: string, imageDefaults: Record<string, string>): ValueSource {
  if (FORCED.has(key)) return 'os';
  const isDefault = Object.prototype.hasOwnProperty.call(imageDefaults, key);
  if (isDefault && imageDefaults[key] === value) return 'image';
  if (OS_KEYS.has(key) && !isDefault) return 'os';
  return 'set';
}

export function describeValueSource(s: ValueSource): string {
  return s === 'set' ? '--set' : s === 'image' ? 'image default' : 'set by the OS';
}

/** Values atomic itself reads (not only templates): stop settings and --init. */
export const ATOMIC_VALUE_KEYS = ['STOP_SIGNAL', 'STOP_TIMEOUT', 'ATOMIC_INIT'];

function readSmall(file: string): string | null {
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile() || st.size > 1024 * 1024) return null;
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function exportsDir(slotDir: string, info: Pick<DeploymentInfo, 'remote'>): string | null {
  return info.remote ? null : path.join(slotDir, 'rootfs', 'exports');
}

/** manifest.json defaultValues of the deployment in `slotDir` ({} when none or unreadable). */
export function slotManifestDefaults(slotDir: string, info: Pick<DeploymentInfo, 'remote'>): Record<string, string> {
  const dir = exportsDir(slotDir, info);
  const text = dir ? readSmall(path.join(dir, 'manifest.json')) : null;
  if (!text) return {};
  try {
    const m = JSON.parse(text) as { defaultValues?: Record<string, unknown> };
    return Object.fromEntries(Object.entries(m.defaultValues ?? {}).map(([k, v]) => [k, String(v)]));
  } catch {
    return {};
  }
}

/** Every variable the deployment's templates (unit, config.json, tmpfiles, hostfs templates, renameFiles) or manifest can use; null when unknown (remote rootfs). */
export function slotTemplateVariables(slotDir: string, info: Pick<DeploymentInfo, 'remote' | 'installed-files-template' | 'rename-installed-files'>): Set<string> | null {
  const dir = exportsDir(slotDir, info);
  if (!dir) return null;
  const used = new Set<string>(ATOMIC_VALUE_KEYS);
  const add = (t: string | null): void => {
    if (t) for (const k of identifiers(t)) used.add(k);
  };
  add(readSmall(path.join(dir, 'service.template')) ?? DEFAULT_SERVICE_TEMPLATE);
  add(readSmall(path.join(dir, 'config.json.template')));
  add(readSmall(path.join(dir, 'tmpfiles.template')));
  for (const f of info['installed-files-template'] ?? []) add(readSmall(path.join(dir, 'hostfs', f)));
  for (const v of Object.values(info['rename-installed-files'] ?? {})) add(v);
  for (const k of Object.keys(slotManifestDefaults(slotDir, info))) used.add(k);
  return used;
}

/** Warnings for `--set` keys that nothing of the deployment uses. */
export function unusedSetWarnings(slotDir: string, info: DeploymentInfo, setKeys: string[], image: string): string[] {
  const used = slotTemplateVariables(slotDir, info);
  if (!used) return [];
  return setKeys
    .filter((k) => !used.has(k))
    .map((k) => `Warning: --set ${k} is not used by any template of ${image} (service.template, config.json.template, tmpfiles.template, hostfs templates, manifest.json defaultValues); check its spelling`);
}
