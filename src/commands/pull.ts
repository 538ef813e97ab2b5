import { Args, Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../cli/base-command.js';
import { trustFlags } from '../cli/trust-flags.js';
import { runPull } from '../cli/pull-runner.js';
import { registryFlags } from '../image/registry/cli-flags.js';

export default class Pull extends BaseCommand {
  static override summary = 'Pull an image into the OSTree store (one commit per layer, file-level dedup).';
  static override description = [
    'Blobs already in the store are not fetched again; every blob is verified against its digest and size.',
    'Sources: oci:DIR[:TAG] (OCI layout), oci-archive:FILE[:TAG], dockertar:/PATH and docker-archive:PATH (docker save),',
    'and registries: docker://HOST[:PORT]/REPO[:TAG|@DIGEST], NAME[:TAG], oci:NAME, http:NAME, https:NAME (docs/registries.md).',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> pull --storage ostree oci:/srv/images/oci:systest',
    '<%= config.bin %> pull --storage ostree dockertar://tmp/systest.docker.tar',
    '<%= config.bin %> pull --storage ostree oci-archive:/tmp/systest.oci.tar',
    '<%= config.bin %> pull --storage ostree docker://registry.example.com/app/etcd:3.5',
  ];
  static override args = { image: Args.string({ required: true, description: 'Image source (transport:reference).' }) };
  static override flags = {
    storage: storageFlag,
    ...registryFlags,
    name: Flags.string({ description: 'Store the image under this name instead of the derived one.' }),
    ...trustFlags,
    type: Flags.string({
      char: 't',
      description: 'atomic\'s -t/--type ("alternative registry type"), which atomic parsed and never used; accepted so scripts keep working.',
      helpValue: 'TYPE',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Pull);
    await runPull(flags, args.image);
  }
}
