import { Args } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { rollbackContainer } from '../../app/containers/rollback.js';

export default class ContainersRollback extends BaseCommand {
  static override description = 'Switch a container back to its other deployment, with that deployment\'s own config, values and unit.';
  static override examples = ['<%= config.bin %> containers rollback hello'];
  static override args = { name: Args.string({ required: true, description: 'Container name.' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainersRollback);
    await rollbackContainer(this.makeContext(flags), args.name);
  }
}
