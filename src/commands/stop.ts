import { Args } from '@oclif/core';
import { BaseCommand, storageFlag } from '../cli/base-command.js';
import { stopContainer } from '../app/containers/stop.js';

export default class Stop extends BaseCommand {
  static override summary = 'Stop an installed system container (systemctl stop NAME).';
  static override description = 'Stops the unit of an installed system container; with runc the container and its state are removed by the unit\'s stop commands.';
  static override examples = ['<%= config.bin %> stop hello'];
  static override args = { name: Args.string({ required: true, description: 'Container name.' }) };
  static override flags = { storage: storageFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Stop);
    this.checkStorage(flags.storage);
    await stopContainer(this.makeContext(flags), args.name);
  }
}
