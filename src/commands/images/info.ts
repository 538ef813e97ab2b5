import { Args, Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../../cli/base-command.js';
import { imagesInfo } from '../../app/images/info.js';
import { imageInfoJson, imageInfoLines } from '../../cli/image-info.js';

export default class ImagesInfo extends BaseCommand {
  static override description = 'Show an image\'s name, labels and the template variables of its /exports (with and without defaults).';
  static override examples = ['<%= config.bin %> images info systest:latest'];
  static override args = { image: Args.string({ required: true, description: 'Image name or id prefix.' }) };
  static override enableJsonFlag = true;
  static override flags = { storage: storageFlag, json: Flags.boolean({ description: 'Print JSON.' }) };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(ImagesInfo);
    this.checkStorage(flags.storage);
    const info = await imagesInfo(this.makeContext(flags), args.image);
    for (const l of imageInfoLines(info)) this.log(l);
    return imageInfoJson(info);
  }
}
