import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { runContainersList } from '../../cli/list-runners.js';
import type { ContainerRow } from '../../app/containers/list.js';

export default class ContainersList extends BaseCommand {
  static override description = "List system containers (running ones; -a for all) with atomic's columns.";
  static override examples = ['<%= config.bin %> containers list -a', '<%= config.bin %> containers list --json'];
  static override enableJsonFlag = true;
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'Show all containers, not only running ones.' }),
    filter: Flags.string({
      char: 'f',
      description: 'Filter: KEY=VALUE (container, image, command, created, state, runtime, backend); repeatable.',
      multiple: true,
      multipleNonGreedy: true,
    }),
    noheading: Flags.boolean({ char: 'n', description: 'Do not print the header.' }),
    'no-trunc': Flags.boolean({ description: 'Do not truncate columns.' }),
    quiet: Flags.boolean({ char: 'q', description: 'Print only container ids.' }),
    json: Flags.boolean({ description: 'Print JSON.' }),
  };

  async run(): Promise<ContainerRow[]> {
    const { flags } = await this.parse(ContainersList);
    return runContainersList(flags, (l) => this.log(l));
  }
}
