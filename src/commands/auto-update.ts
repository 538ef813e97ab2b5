import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { autoUpdate, autoUpdateExitCode, updatedColumn, type AutoUpdateReport } from '../app/containers/auto-update.js';
import { registryFlags, registryOptionsFromFlags } from '../image/registry/cli-flags.js';
import { trustFlags, trustSettingsFromFlags } from '../cli/trust-flags.js';

/** podman's table: UNIT CONTAINER IMAGE POLICY UPDATED, columns as wide as their widest cell. */
export function autoUpdateTable(rows: AutoUpdateReport[]): string[] {
  const cells = [['UNIT', 'CONTAINER', 'IMAGE', 'POLICY', 'UPDATED'], ...rows.map((r) => [r.unit, r.name, r.image, r.policy, updatedColumn(r.status)])];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]! + 2))).join(''));
}

export default class AutoUpdate extends BaseCommand {
  static override summary = 'Update the system containers whose image changed on their registry, through the health gate of containers update.';
  static override description = [
    'Candidates are the installed system containers whose image has the label io.containers.autoupdate=registry (or =local),',
    'or that were installed with --auto-update. For each one the manifest digest of its image reference is compared with the',
    'deployed one (a manifest request only: nothing else is fetched when it did not change); a new image is pulled and deployed',
    'with `containers update` (watched for --watch seconds; an unhealthy service is switched back and its image quarantined).',
    'A quarantined digest is skipped until `atomic containers update NAME` is run by hand. Exit status: 0 when nothing failed,',
    '8 when some update was rolled back by the health gate, 1 when a check, pull or update failed (docs/auto-update.md).',
    'atomic-auto-update.timer runs it daily; atomic install of the first auto-update container enables it.',
  ].join('\n');
  static override examples = ['<%= config.bin %> auto-update', '<%= config.bin %> auto-update --dry-run', '<%= config.bin %> auto-update --json'];
  static override flags = {
    'dry-run': Flags.boolean({ description: 'Only check: report which containers would be updated (UPDATED "pending") and change nothing.' }),
    json: Flags.boolean({ description: 'Print a JSON array, one object per container (schema: docs/auto-update.md); progress goes to stderr.' }),
    watch: Flags.integer({
      description: 'Seconds the health gate watches a restarted service (as containers update --watch). 0 disables the gate.',
      default: 10,
      min: 0,
      helpValue: 'SECONDS',
    }),
    'src-creds': registryFlags['src-creds'],
    'tls-verify': registryFlags['tls-verify'],
    'cert-dir': registryFlags['cert-dir'],
    ...trustFlags,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AutoUpdate);
    const base = this.makeContext(flags);
    // with --json stdout holds only the JSON: the steps' lines (pull, systemctl) go to stderr
    const ctx = flags.json ? { ...base, out: { line: (t: string) => base.out.warn(t), warn: (t: string) => base.out.warn(t), isTTY: false } } : base;
    ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
    const { registry } = registryOptionsFromFlags(flags);
    const rows = await autoUpdate(ctx, { dryRun: flags['dry-run'], watch: flags.watch, registry });
    if (flags.json) this.log(JSON.stringify(rows, null, 4));
    else if (rows.length === 0) this.log('No container has an auto-update policy (label io.containers.autoupdate, or install --auto-update).');
    else for (const l of autoUpdateTable(rows)) this.log(l);
    process.exitCode = autoUpdateExitCode(rows);
  }
}
