import { Args, Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../../cli/base-command.js';
import { imagesVersion } from '../../app/images/version.js';

export default class ImagesVersion extends BaseCommand {
  static override aliases = ['version'];
  static override description = 'Show an image\'s id, version label and layer chain.';
  static override examples = ['<%= config.bin %> images version systest:latest'];
  static override args = { image: Args.string({ required: true, description: 'Image name or id prefix.' }) };
  static override enableJsonFlag = true;
  static override flags = { storage: storageFlag, json: Flags.boolean({ description: 'Print JSON.' }) };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(ImagesVersion);
    this.checkStorage(flags.storage);
    const r = await imagesVersion(this.makeContext(flags), args.image);
    for (const l of r.lines) this.log(l);
    return r.json;
  }
}
