import { Args, Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../../cli/base-command.js';
import { imagesVersion, type ImageVersion } from '../../app/images/version.js';
import { convertSize, row } from '../../util/format.js';

export default class ImagesVersion extends BaseCommand {
  static override aliases = ['version'];
  static override description = 'Show an image\'s id, version label and layer chain.';
  static override examples = ['<%= config.bin %> images version systest:latest'];
  static override args = { image: Args.string({ required: true, description: 'Image name or id prefix.' }) };
  static override enableJsonFlag = true;
  static override flags = { storage: storageFlag, json: Flags.boolean({ description: 'Print JSON.' }) };

  async run(): Promise<ImageVersion> {
    const { args, flags } = await this.parse(ImagesVersion);
    this.checkStorage(flags.storage);
    const v = await imagesVersion(this.makeContext(flags), args.image);
    for (const l of versionLines(v)) this.log(l);
    return v;
  }
}

/** The image row, then one row per layer (`-` for an unknown size, `missing` for a missing commit). */
function versionLines(v: ImageVersion): string[] {
  const lines = [row([['IMAGE ID', 14], ['NAME', 40], ['VERSION', 10]]), row([[v.id.slice(0, 12), 14], [v.name, 40], [v.version, 10]]), ''];
  lines.push(row([['LAYER', 20], ['SIZE', 12], ['COMMIT', 14]]));
  for (const l of v.layers) lines.push(row([[l.digest.replace(/^sha256:/, '').slice(0, 19), 20], [l.size !== null ? convertSize(l.size) : '-', 12], [l.commit ? l.commit.slice(0, 12) : 'missing', 14]]));
  return lines;
}
