import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { trustFlags, trustSettingsFromFlags } from '../../cli/trust-flags.js';
import { trustShow } from '../../app/trust/trust-show.js';

export default class TrustShow extends BaseCommand {
  static override description = 'Show the signature policy: each scope with its requirement (accept, reject, signed, sigstoreSigned), keys and where signatures are read from.';
  static override examples = ['<%= config.bin %> trust show', '<%= config.bin %> trust show --json'];
  static override enableJsonFlag = true;
  static override flags = {
    json: Flags.boolean({ description: 'Print JSON.' }),
    'signature-policy': trustFlags['signature-policy'],
    'registries.d': trustFlags['registries.d'],
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(TrustShow);
    const ctx = this.makeContext(flags);
    ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
    const r = trustShow(ctx);
    for (const l of r.lines) this.log(l);
    return { policy: r.policyFile, registriesD: r.registriesDir, scopes: r.rows };
  }
}
