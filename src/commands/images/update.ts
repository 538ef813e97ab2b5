import { Args, Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../../cli/base-command.js';
import { imagesUpdate } from '../../app/images/update.js';
import { summaryLines } from '../../cli/summary.js';
import { trustFlags, trustSettingsFromFlags } from '../../cli/trust-flags.js';
import { ProgressPrinter, pullEventsFor } from '../../cli/progress.js';
import { registryFlags, registryOptionsFromFlags } from '../../image/registry/cli-flags.js';

export default class ImagesUpdate extends BaseCommand {
  static override description = [
    'Pull an image again from its registry and report whether it changed.',
    'With --all, every stored image with a fully qualified name (a `Checking image NAME...` line each, then a SUMMARY table; failures are listed there, exit 0); unqualified names are skipped.',
  ].join('\n');
  static override examples = ['<%= config.bin %> images update registry.example.com/apps/etcd:3.5', '<%= config.bin %> images update --all'];
  static override args = { image: Args.string({ required: false, description: 'Image name (as stored) or registry reference.' }) };
  static override flags = {
    storage: storageFlag,
    all: Flags.boolean({ char: 'a', description: 'Update every image with a fully qualified name.', default: false }),
    ...registryFlags,
    ...trustFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImagesUpdate);
    this.checkStorage(flags.storage);
    const ctx = this.makeContext(flags);
    const { registry, platform } = registryOptionsFromFlags(flags);
    const progress = new ProgressPrinter(ctx.out);
    try {
      await imagesUpdate(ctx, args.image, {
        all: flags.all,
        onSummary: (rows) => {
          progress.done();
          const lines = summaryLines(
            [50, 32, 32, 15],
            ['Image', 'Image ID before update', 'Image ID after update', 'Status'],
            rows.map((r) => ({ cells: [r.name, r.before, r.after], status: r.status, color: r.status === 'Could not pull' ? 'red' : 'green' })),
            ctx.out.isTTY,
          );
          for (const l of lines) this.log(l);
        },
        registry,
        platform,
        trust: trustSettingsFromFlags(flags, ctx.paths.userMode),
        ...pullEventsFor(progress),
      });
    } finally {
      progress.done();
    }
  }
}
