import { Args, Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../cli/base-command.js';
import { imagesInfo } from '../app/images/info.js';
import { imageInfoJson, imageInfoLines } from '../cli/image-info.js';
import { inspectContainer, isInstalledContainer } from '../app/containers/inspect.js';
import { inspectLines } from '../cli/inspect-lines.js';

export default class Info extends BaseCommand {
  static override description = 'Show an image\'s name, labels and the template variables of its /exports (with and without defaults); for the name of an installed system container, what `containers inspect` shows.';
  static override examples = ['<%= config.bin %> info systest:latest'];
  static override args = { image: Args.string({ required: true, description: 'Image name or id prefix.' }) };
  static override enableJsonFlag = true;
  static override flags = { storage: storageFlag, json: Flags.boolean({ description: 'Print JSON.' }) };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Info);
    this.checkStorage(flags.storage);
    const ctx = this.makeContext(flags);
    if (isInstalledContainer(ctx, args.image)) {
      const c = inspectContainer(ctx, args.image);
      for (const l of inspectLines(c)) this.log(l);
      return c;
    }
    const info = await imagesInfo(ctx, args.image);
    for (const l of imageInfoLines(info)) this.log(l);
    return imageInfoJson(info);
  }
}
