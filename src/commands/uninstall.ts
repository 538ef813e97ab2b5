import { Args, Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../cli/base-command.js';
import { uninstallContainer } from '../app/uninstall.js';

export default class Uninstall extends BaseCommand {
  static override description = 'Uninstall a system container: stop and disable it, remove its unit, tmpfiles, host files (unless modified) and both deployments. The image stays.';
  static override examples = ['<%= config.bin %> uninstall hello'];
  static override args = { name: Args.string({ required: true, description: 'Container name.' }) };
  static override flags = { storage: storageFlag, name: Flags.string({ char: 'n', hidden: true }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Uninstall);
    this.checkStorage(flags.storage);
    await uninstallContainer(this.makeContext(flags), flags.name ?? args.name);
  }
}
