import { Args, Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../cli/base-command.js';
import { mountImage } from '../app/mount.js';

export default class Mount extends BaseCommand {
  static override description = 'Check out an image (or bind a container\'s rootfs) read-only at MOUNTPOINT.';
  static override examples = ['<%= config.bin %> mount systest:latest /mnt/systest'];
  static override args = {
    image: Args.string({ required: true, description: 'Image name/id prefix, or an installed container name.' }),
    mountpoint: Args.string({ required: true, description: 'An empty directory.' }),
  };
  static override flags = {
    storage: storageFlag,
    live: Flags.boolean({ description: 'Not supported for OSTree images (atomic compatibility).' }),
    shared: Flags.boolean({ description: 'Accepted for compatibility.' }),
    options: Flags.string({ char: 'o', description: 'Accepted for compatibility; ignored for OSTree.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Mount);
    this.checkStorage(flags.storage);
    await mountImage(this.makeContext(flags), args.image, args.mountpoint, { live: flags.live });
  }
}
