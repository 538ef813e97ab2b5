import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { umountImage } from '../app/mount.js';

export default class Umount extends BaseCommand {
  static override aliases = ['unmount'];
  static override description = 'Undo `atomic mount`: unmount and remove the checkout at MOUNTPOINT. `atomic unmount` (atomic\'s primary name) is the same command.';
  static override examples = ['<%= config.bin %> unmount /mnt/systest'];
  static override args = { mountpoint: Args.string({ required: true, description: 'The directory given to atomic mount.' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Umount);
    await umountImage(this.makeContext(flags), args.mountpoint);
  }
}
