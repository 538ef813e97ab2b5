import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { trustFlags, trustSettingsFromFlags } from '../../cli/trust-flags.js';
import { trustDelete } from '../../app/trust/trust-edit.js';
import { trustEditLine } from '../../cli/trust-edits.js';

export default class TrustDelete extends BaseCommand {
  static override description = 'Remove a scope from the signature policy (and its registries.d entry); other scopes and keys are kept.';
  static override examples = ['<%= config.bin %> trust delete registry.example.com/apps'];
  static override args = { scope: Args.string({ required: true, description: 'The scope, as `atomic trust show` lists it.' }) };
  static override flags = {
    transport: Flags.string({ description: 'Policy transport of the scope.', options: ['docker', 'oci', 'oci-archive', 'docker-archive'], default: 'docker' }),
    'signature-policy': trustFlags['signature-policy'],
    'registries.d': trustFlags['registries.d'],
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TrustDelete);
    const ctx = this.makeContext(flags);
    ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
    for (const e of await trustDelete(ctx, args.scope, flags.transport)) this.log(trustEditLine(e));
  }
}
