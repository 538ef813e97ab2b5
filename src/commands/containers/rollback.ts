import { Args } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { rollbackContainer } from '../../app/containers/rollback.js';
import { trustFlags, trustSettingsFromFlags } from '../../cli/trust-flags.js';

export default class ContainersRollback extends BaseCommand {
  static override description = 'Switch a container back to its other deployment, with that deployment\'s own config, values and unit.';
  static override examples = ['<%= config.bin %> containers rollback hello'];
  static override args = { name: Args.string({ required: true, description: 'Container name.' }) };
  static override flags = { ...trustFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainersRollback);
    const ctx = this.makeContext(flags);
    ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
    await rollbackContainer(ctx, args.name);
  }
}
