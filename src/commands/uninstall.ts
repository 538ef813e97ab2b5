import { Args, Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../cli/base-command.js';
import { uninstallSystemContainer } from '../cli/deploy-runners.js';
import { uninstallByLabel, systemContainerExists } from '../app/labels/commands.js';
import { optFlags, exportOptEnv } from '../cli/opt-flags.js';
import { splitAtFirstPositional, type FlagShape } from '../cli/passthrough.js';
import { AtomicError } from '../util/errors.js';

export default class Uninstall extends BaseCommand {
  static override description = [
    'Uninstall a system container: stop and disable it, remove its unit, tmpfiles, host files (unless modified) and both deployments. The image stays.',
    'When no system container has that name and IMAGE is an image in the store, the command in its UNINSTALL label is run on the host instead (IMAGE, NAME, ${CONFDIR}, ${LOGDIR}, ${DATADIR} substituted, the ARGs after IMAGE appended; the directories are not removed); atomic exits with its exit status.',
  ].join('\n\n');
  static override examples = ['<%= config.bin %> uninstall hello', '<%= config.bin %> uninstall -n ssh.2 jdeathe/centos-ssh'];
  static override strict = false;
  static override args = { name: Args.string({ required: true, description: 'Container name, or an image with an UNINSTALL label (then ARGs go to its command).' }) };
  static override flags = {
    ...optFlags,
    storage: storageFlag,
    name: Flags.string({ char: 'n', description: 'Container name (NAME in the UNINSTALL command; default: the image name without path and tag).' }),
    display: Flags.boolean({ description: 'Print the resolved UNINSTALL command and run nothing.' }),
    force: Flags.boolean({ char: 'f', description: "atomic's -f/--force (remove the image's docker containers first); a system container is always removed with both deployments, so it changes nothing here." }),
  };

  async run(): Promise<void> {
    const split = splitAtFirstPositional(this.argv, { ...Uninstall.baseFlags, ...Uninstall.flags } as Record<string, FlagShape>);
    const { args, flags } = await this.parse(Uninstall, split.head);
    exportOptEnv(flags);
    this.checkStorage(flags.storage);
    const ctx = this.makeContext(flags);
    if (flags.name !== undefined && (systemContainerExists(ctx, args.name) || systemContainerExists(ctx, flags.name))) {
      throw new AtomicError('USAGE', 'System containers do not support --name. Please use atomic uninstall NAME', {
        suggestions: [`atomic uninstall ${systemContainerExists(ctx, args.name) ? args.name : flags.name}`],
      });
    }
    if (!systemContainerExists(ctx, args.name)) {
      const code = await uninstallByLabel(ctx, { image: args.name, name: flags.name, args: split.rest, display: flags.display });
      if (code !== null) {
        process.exitCode = code;
        return;
      }
    }
    await uninstallSystemContainer(ctx, args.name);
  }
}
