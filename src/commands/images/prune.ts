import { BaseCommand, storageFlag } from '../../cli/base-command.js';
import { imagesPrune } from '../../app/images/prune.js';

export default class ImagesPrune extends BaseCommand {
  static override description = 'Remove layers and objects no image uses, and deployment dirs of uninstalled containers.';
  static override examples = ['<%= config.bin %> images prune'];
  static override flags = { storage: storageFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(ImagesPrune);
    this.checkStorage(flags.storage);
    const ctx = this.makeContext(flags);
    const r = await imagesPrune(ctx);
    this.log(`Pruned ${r.refsDeleted.length} ref(s), ${r.objectsDeleted} object(s), ${r.bytesFreed} bytes freed`);
  }
}
