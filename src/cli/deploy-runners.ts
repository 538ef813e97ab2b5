/**
 * Bodies of `atomic install --system IMAGE`, `atomic containers update NAME`, `atomic containers
 * rollback NAME` and `atomic uninstall NAME`, shared by their oclif commands and the start-up fast
 * path (cli/fast-path.ts), which runs them without loading oclif (~0.25 s of CPU per call, more
 * than podman create takes).
 */
import { contextFromFlags, checkStorage } from './command-context.js';
import { trustSettingsFromFlags, type TrustFlagValues } from './trust-settings.js';
import { stopFlagValues } from '../host/init-binary.js';
import { AtomicError } from '../util/errors.js';
import type { DryRunReport } from '../app/containers/dry-run.js';
import type { AppContext } from '../app/context.js';

interface CommonFlags extends TrustFlagValues {
  sysroot?: string;
  debug?: boolean;
}

export interface InstallSystemFlags extends CommonFlags {
  system?: boolean;
  user?: boolean;
  name?: string;
  set?: string[];
  option?: string[];
  rootfs?: string;
  runtime?: string;
  display?: boolean;
  storage?: string;
  'system-package'?: string;
  'stop-timeout'?: number;
  init?: boolean;
  now?: boolean;
  'health-check'?: string;
  'auto-update'?: boolean;
  'dry-run'?: boolean;
  json?: boolean;
}

/** The lines a dry run prints: the JSON document (`--json`), else the human form (docs/dry-run.md). */
export async function dryRunOutput(r: DryRunReport, json: boolean | undefined): Promise<string[]> {
  if (json) return [JSON.stringify(r, null, 4)];
  const { dryRunLines } = await import('./dry-run-lines.js');
  return dryRunLines(r);
}

/** `install --system|--user IMAGE`: returns the exit code. */
export async function runInstallSystem(flags: InstallSystemFlags, image: string): Promise<number> {
  checkStorage(flags.storage);
  const ctx = contextFromFlags(flags);
  ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
  if (flags.system && ctx.paths.userMode) throw new AtomicError('PERMISSION', 'Only root can use --system', { suggestions: ['Use --user for an unprivileged install.'] });
  if (flags.user && !ctx.paths.userMode) throw new AtomicError('USAGE', '--user does not work for privileged user', { suggestions: ['Use --system as root.'] });
  if (flags['system-package'] === 'build' || flags['system-package'] === 'yes') {
    throw new AtomicError('NOT_SUPPORTED', `--system-package=${flags['system-package']} (rpm generation) is not supported`, { suggestions: ['Use --system-package=no (the default behaviour).'] });
  }
  const o = { image, name: flags.name, set: [...(flags.set ?? []), ...stopFlagValues(flags)], runtime: flags.runtime, display: flags.display, rootfs: flags.rootfs, options: flags.option, healthCheck: flags['health-check'], now: flags.now, autoUpdate: flags['auto-update'] };
  if (flags['dry-run']) {
    const { installDryRun } = await import('../app/containers/dry-run.js');
    for (const l of await dryRunOutput(await installDryRun(ctx, o), flags.json)) process.stdout.write(`${l}\n`);
    return 0;
  }
  const { installSystemOrRunOnce } = await import('../app/labels/commands.js');
  return installSystemOrRunOnce(ctx, o);
}

export interface UpdateFlags extends CommonFlags {
  rebase?: string;
  set?: string[];
  watch?: number;
  reset?: string[];
  'stop-timeout'?: number;
  init?: boolean;
  'health-check'?: string;
  'auto-update'?: boolean;
}

/** `containers update NAME` (not --all). */
export async function runContainersUpdate(flags: UpdateFlags, name: string): Promise<void> {
  const ctx = contextFromFlags(flags);
  ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
  const { updateContainer } = await import('../app/containers/update.js');
  await updateContainer(ctx, { name, rebase: flags.rebase, set: [...(flags.set ?? []), ...stopFlagValues(flags)], watch: flags.watch, healthCheck: flags['health-check'], reset: flags.reset, autoUpdate: flags['auto-update'] });
}

/** `containers rollback NAME` (not --dry-run). */
export async function runContainersRollback(flags: CommonFlags & { watch?: number }, name: string): Promise<void> {
  const ctx = contextFromFlags(flags);
  ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
  const { rollbackContainer } = await import('../app/containers/rollback.js');
  await rollbackContainer(ctx, name, { watch: flags.watch });
}

/**
 * `uninstall NAME` when a system container has that name (what the oclif command then does:
 * commands/uninstall.ts); returns false, having done nothing, when none has: the oclif command
 * then tries NAME as an image with an UNINSTALL label, and reports leftovers or unknown names.
 */
export async function runUninstallSystem(flags: CommonFlags & { storage?: string }, name: string): Promise<boolean> {
  checkStorage(flags.storage);
  const ctx = contextFromFlags(flags);
  const { systemContainerExists } = await import('../app/labels/commands.js');
  if (!systemContainerExists(ctx, name)) return false;
  await uninstallSystemContainer(ctx, name);
  return true;
}

/** What both paths of `uninstall NAME` end with: the container removed, or CONTAINER_NOT_FOUND when there was none. */
export async function uninstallSystemContainer(ctx: AppContext, name: string): Promise<void> {
  const { uninstallContainer, unableToFind } = await import('../app/containers/uninstall.js');
  const { removed } = await uninstallContainer(ctx, name);
  if (!removed) throw unableToFind(name);
}
