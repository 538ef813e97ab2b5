import { Args } from '@oclif/core';
import { BaseCommand, storageFlag } from '../../cli/base-command.js';
import { imagesTag } from '../../app/images/tag.js';

export default class ImagesTag extends BaseCommand {
  static override description = 'Give an image another name (a new ref on the same commit).';
  static override examples = ['<%= config.bin %> images tag systest:latest registry.example.com/apps/systest:1.0'];
  static override args = {
    src: Args.string({ required: true, description: 'Existing image name or id prefix.' }),
    dest: Args.string({ required: true, description: 'New name[:tag].' }),
  };
  static override flags = { storage: storageFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImagesTag);
    this.checkStorage(flags.storage);
    await imagesTag(this.makeContext(flags), args.src, args.dest);
  }
}
