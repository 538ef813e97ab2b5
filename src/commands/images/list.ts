import { Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../../cli/base-command.js';
import { runImagesList } from '../../cli/list-runners.js';
import type { ImageListJson } from '../../app/images/list.js';

export default class ImagesList extends BaseCommand {
  static override description = 'List the images in the OSTree store (atomic images list).';
  static override examples = ['<%= config.bin %> images list', '<%= config.bin %> images list -f repo=systest --no-trunc', '<%= config.bin %> images list --json'];
  static override enableJsonFlag = true;
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'Also show layer and config refs (as <none> rows).' }),
    filter: Flags.string({
      char: 'f',
      description: 'Filter rows: KEY=VALUE, case-insensitive substring; repeatable (ANDed). Keys: repo, repository, tag, id, image, created, size, type, is_dangling.',
      multiple: true,
      multipleNonGreedy: true,
    }),
    noheading: Flags.boolean({ char: 'n', description: 'Do not print the header line.' }),
    'no-trunc': Flags.boolean({ description: 'Show full image ids.' }),
    quiet: Flags.boolean({ char: 'q', description: 'Print only image ids.' }),
    json: Flags.boolean({ description: 'Print a JSON list.' }),
    storage: storageFlag,
  };

  async run(): Promise<ImageListJson[]> {
    const { flags } = await this.parse(ImagesList);
    return runImagesList(flags, (l) => this.log(l));
  }
}
