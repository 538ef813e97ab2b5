import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { trustFlags, trustSettingsFromFlags } from '../../cli/trust-flags.js';
import { trustShow, type TrustRow } from '../../app/trust/trust-show.js';

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
    for (const l of trustLines(r.rows)) this.log(l);
    return { policy: r.policyFile, registriesD: r.registriesDir, scopes: r.rows };
  }
}

/** One row per scope: the scope, its requirement type, then its keys and signature store. */
function trustLines(rows: TrustRow[]): string[] {
  const label = (r: TrustRow): string => (r.scope === null ? '* (default)' : `${r.transport === 'docker' ? '' : `${r.transport}:`}${r.scope === '' ? `* (${r.transport} default)` : r.scope}`);
  const w = Math.max(35, ...rows.map((r) => label(r).length + 2));
  return rows.map((r) => `${label(r).padEnd(w)}${r.type.padEnd(16)}${[r.keys.join(','), ...r.signatureStore].filter(Boolean).join('  ')}`.trimEnd());
}
