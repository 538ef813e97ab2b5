import { Args } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { networkAttach, networkRelease } from '../../app/containers/network.js';

export default class ContainersNetwork extends BaseCommand {
  static override summary = 'Attach or release the CNI bridge network of a container with network=bridge (run by the unit drop-in; see docs/options.md).';
  static override description =
    'Run by the unit of a container whose option record has network=bridge (ExecStartPre=/ExecStopPost= of NAME.service.d/50-atomic-options.conf): attach creates the network namespace, wires it to the atomic0 bridge with the CNI plugins and publishes PortMappingPorts (on 127.0.0.1 for access=private); release undoes it. See docs/options.md.';
  static override examples = ['<%= config.bin %> containers network attach web', '<%= config.bin %> containers network release web'];
  static override args = {
    action: Args.string({ required: true, options: ['attach', 'release'], description: 'attach or release.' }),
    name: Args.string({ required: true, description: 'Container name.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainersNetwork);
    const ctx = this.makeContext(flags);
    if (args.action === 'attach') networkAttach(ctx, args.name);
    else networkRelease(ctx, args.name);
  }
}
