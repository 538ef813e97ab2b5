import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { showConfig, configContainer } from '../../app/containers/config.js';
import { recordLines } from '../../render/options.js';
import type { OptionRecordView } from '../../app/containers/option-record.js';
import { trustFlags, trustSettingsFromFlags } from '../../cli/trust-flags.js';

export default class ContainersConfig extends BaseCommand {
  static override summary =
    'Show or change the option record of a system container (SME Server keys: MaxMemory, cpu, MountPath, DataMount, network, Interlinked, status, StartAt, ...).';
  static override description = [
    'Without KEY=VALUE: prints the record of the live deployment, one KEY=VALUE a line (--json: an object with `deployed`, `hostFile`, `pending`).',
    'With KEY=VALUE and/or --unset KEY: validates the new record (unknown keys, bad values, unknown or circular Interlinked containers are refused and nothing changes), then deploys it like `containers update`: a new deployment rendered with the record, switched atomically, restarted if it was running. /etc/containers/atomic/NAME.conf is rewritten atomically; `containers rollback NAME` restores the previous record with its deployment.',
    'Keys and how they map onto the container: docs/options.md.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> containers config hello',
    '<%= config.bin %> containers config hello MaxMemory=512 cpu=50',
    '<%= config.bin %> containers config wordpress Interlinked=mysql --unset StartAt',
    '<%= config.bin %> containers config hello --json',
  ];
  static override strict = false;
  static override args = { name: Args.string({ required: true, description: 'Container name.' }) };
  static override enableJsonFlag = true;
  static override flags = {
    json: Flags.boolean({ description: 'Print the record as JSON.' }),
    unset: Flags.string({ description: 'Remove KEY from the record; repeatable.', multiple: true, multipleNonGreedy: true, helpValue: 'KEY' }),
    ...trustFlags,
  };

  protected override jsonIndent = 2;

  async run(): Promise<unknown> {
    const { args, flags, argv } = await this.parse(ContainersConfig);
    const ctx = this.makeContext(flags);
    ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
    const sets = (argv as string[]).slice(1);
    let view: OptionRecordView;
    if (sets.length === 0 && !flags.unset?.length) view = showConfig(ctx, args.name);
    else view = (await configContainer(ctx, { name: args.name, set: sets, unset: flags.unset })).view;
    const data = { name: args.name, deployed: view.deployed, hostFile: view.hostFile, hostFilePath: view.hostFilePath, pending: view.pending };
    if (sets.length === 0 && !flags.unset?.length) {
      for (const l of recordLines(view.deployed)) this.log(l);
      if (view.pending) this.log(`# ${view.hostFilePath} differs (applied by the next: atomic containers update ${args.name})`);
    }
    return data;
  }
}
