import { Args, Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../../cli/base-command.js';
import { uninstallContainer, unableToFind } from '../../app/containers/uninstall.js';
import { containersList } from '../../app/containers/list.js';
import { systemContainerExists } from '../../app/labels/commands.js';
import { confirm } from '../../cli/confirm.js';
import { row } from '../../util/format.js';
import { AtomicError } from '../../util/errors.js';

export default class ContainersDelete extends BaseCommand {
  static override description = 'Delete (uninstall) system containers.';
  static override examples = ['<%= config.bin %> containers delete -y hello'];
  static override strict = false;
  static override args = { name: Args.string({ required: false, description: 'Container names.' }) };
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'Delete every system container.' }),
    force: Flags.boolean({ char: 'f', description: 'Accepted for compatibility.' }),
    assumeyes: Flags.boolean({ char: 'y', description: 'Do not ask for confirmation.', env: 'ATOMIC_ASSUME_YES' }),
    storage: storageFlag,
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ContainersDelete);
    const ctx = this.makeContext(flags);
    const rows = await containersList(ctx, { all: true });
    const names = flags.all ? rows.map((r) => r.name) : (argv as string[]);
    if (names.length === 0) throw new AtomicError('USAGE', 'Too few arguments.  Please specify the container');
    for (const n of names) if (!rows.some((x) => x.name === n) && !systemContainerExists(ctx, n)) throw unableToFind(n);
    this.log(row([['ID', 12], ['NAME', 20], ['IMAGE_NAME', 25], ['STORAGE', 10]]).trimEnd());
    for (const n of names) {
      const r = rows.find((x) => x.name === n);
      this.log(row([[n.slice(0, 12), 12], [n.slice(0, 20), 20], [(r?.image_name ?? '').slice(0, 25), 25], ['ostree', 10]]).trimEnd());
    }
    if (!flags.assumeyes && !(await confirm('Confirm (y/N) '))) {
      throw new AtomicError('USAGE', `User aborted delete operation for ${names.join(', ')}`, { exitCode: 2 });
    }
    for (const n of names) await uninstallContainer(ctx, n);
  }
}
