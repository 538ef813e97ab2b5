import { Args } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { trustFlags, trustSettingsFromFlags } from '../../cli/trust-flags.js';
import { trustDefault } from '../../app/trust/trust-edit.js';
import { trustEditLine } from '../../cli/trust-edits.js';

export default class TrustDefault extends BaseCommand {
  static override description = 'Set the policy default for images no scope matches: accept (insecureAcceptAnything: no signature check) or reject. Creates the policy file when missing.';
  static override examples = ['<%= config.bin %> trust default reject', '<%= config.bin %> trust default accept'];
  static override args = { policy: Args.string({ required: true, options: ['accept', 'reject'], description: 'accept or reject.' }) };
  static override flags = { 'signature-policy': trustFlags['signature-policy'] };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TrustDefault);
    const ctx = this.makeContext(flags);
    ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
    for (const e of await trustDefault(ctx, args.policy as 'accept' | 'reject')) this.log(trustEditLine(e));
  }
}
