import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { rollbackDryRun } from '../../app/containers/dry-run.js';
import { trustFlags, trustSettingsFromFlags } from '../../cli/trust-flags.js';
import { runContainersRollback, dryRunOutput } from '../../cli/deploy-runners.js';

export default class ContainersRollback extends BaseCommand {
  static override description = 'Switch a container back to its other deployment, with that deployment\'s own config, values and unit. A running, failed or restarting service is (re)started there and watched (--watch).';
  static override examples = ['<%= config.bin %> containers rollback hello'];
  static override args = { name: Args.string({ required: true, description: 'Container name.' }) };
  static override flags = {
    watch: Flags.integer({ description: 'Seconds to watch the restarted service: when it does not stay active or its readiness check fails, the deployment it came from is restored (if that one was serving), the image quarantined, exit 8. 0 disables.', default: 10, min: 0, helpValue: 'SECONDS' }),
    'dry-run': Flags.boolean({ description: 'Show what the rollback would change (unified diff of the unit, config.json and tmpfiles.d file; value changes) and change nothing. See docs/dry-run.md.' }),
    json: Flags.boolean({ description: 'With --dry-run: print the preview as JSON (schema: docs/dry-run.md).', dependsOn: ['dry-run'] }),
    ...trustFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainersRollback);
    const ctx = this.makeContext(flags);
    ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
    if (flags['dry-run']) {
      for (const l of await dryRunOutput(rollbackDryRun(ctx, args.name), flags.json)) this.log(l);
      return;
    }
    await runContainersRollback(flags, args.name);
  }
}
