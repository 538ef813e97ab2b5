import { Args, Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../cli/base-command.js';
import { pullImage } from '../app/pull.js';
import { ProgressPrinter } from '../cli/progress.js';

export default class Pull extends BaseCommand {
  static override description = [
    'Pull an image into the OSTree store: one commit per layer, file-level dedup.',
    'Sources: oci:DIR[:TAG] (OCI layout), oci-archive:FILE[:TAG], dockertar:/PATH and docker-archive:PATH (docker save).',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> pull --storage ostree oci:/srv/images/oci:systest',
    '<%= config.bin %> pull --storage ostree dockertar://tmp/systest.docker.tar',
    '<%= config.bin %> pull --storage ostree oci-archive:/tmp/systest.oci.tar',
  ];
  static override args = { image: Args.string({ required: true, description: 'Image source (transport:reference).' }) };
  static override flags = {
    storage: storageFlag,
    'src-creds': Flags.string({ description: 'Registry credentials USER[:PASSWORD] (registry sources).', helpValue: 'USER[:PASS]' }),
    name: Flags.string({ description: 'Store the image under this name instead of the derived one.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Pull);
    this.checkStorage(flags.storage);
    const ctx = this.makeContext(flags);
    const repo = await ctx.repo();
    const progress = new ProgressPrinter(ctx.out);
    try {
      const r = await pullImage(repo, args.image, {
        name: flags.name,
        onLine: (l) => progress.line(l),
        onWarning: (w) => progress.warn(w),
        onProgress: (ev) => {
          const e = ev as typeof ev & { bytes?: number };
          if (e.status === 'copying' && typeof e.bytes === 'number') progress.progress({ id: String(ev.digest), done: e.bytes, total: ev.size });
        },
      });
      progress.done();
      ctx.out.line(`Image ${r.imageName} pulled (${r.layersImported} layer(s) imported, ${r.layersSkipped} already present)`);
    } finally {
      progress.done();
    }
  }
}
