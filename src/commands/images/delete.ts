import { Args, Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../../cli/base-command.js';
import { planImagesDelete, imagesDelete } from '../../app/images/delete.js';
import type { ImageEntry } from '../../image/stored-image.js';
import { row } from '../../util/format.js';
import { confirm } from '../../cli/confirm.js';
import { AtomicError } from '../../util/errors.js';

export default class ImagesDelete extends BaseCommand {
  static override description = 'Delete image refs from the store (layers stay until `atomic images prune`).';
  static override examples = ['<%= config.bin %> images delete -y systest:latest', '<%= config.bin %> images delete 90f354a469e2'];
  static override strict = false;
  static override args = { image: Args.string({ required: false, description: 'Image names or id prefixes (none with --all).' }) };
  static override flags = {
    assumeyes: Flags.boolean({ char: 'y', description: 'Do not ask for confirmation.', env: 'ATOMIC_ASSUME_YES' }),
    all: Flags.boolean({ char: 'a', description: 'Delete every image in the store (their layers stay until `atomic images prune`).' }),
    force: Flags.boolean({ char: 'f', description: 'Accepted for compatibility; ignored by the ostree storage.' }),
    storage: storageFlag,
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ImagesDelete);
    this.checkStorage(flags.storage);
    const ctx = this.makeContext(flags);
    const targets = await planImagesDelete(ctx, argv as string[], flags.all);
    for (const l of describeDelete(targets, flags.assumeyes)) this.log(l);
    if (!flags.assumeyes && !(await confirm('Confirm (y/N) '))) {
      throw new AtomicError('USAGE', `User aborted delete operation for ${targets.map((t) => t.name).join(', ')}`, { exitCode: 2 });
    }
    await imagesDelete(ctx, targets);
  }
}

/** atomic's delete prompt: the images that will go, in a two-column table. */
function describeDelete(targets: ImageEntry[], assumeYes: boolean): string[] {
  const lines = [assumeYes ? 'The following images will be deleted.' : 'Do you wish to delete the following images?', ''];
  lines.push(row([['   IMAGE', 50], ['STORAGE', 10]]).trimEnd());
  for (const t of targets) lines.push(row([[`   ${t.name}`, 50], ['ostree', 10]]).trimEnd());
  return lines;
}
