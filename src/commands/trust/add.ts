import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { trustFlags, trustSettingsFromFlags } from '../../cli/trust-flags.js';
import { trustAdd } from '../../app/trust/trust-edit.js';
import { trustEditLine } from '../../cli/trust-edits.js';
import { AtomicError } from '../../util/errors.js';

export default class TrustAdd extends BaseCommand {
  static override description = [
    'Add or replace the requirement of a registry scope in the signature policy (policy.json written atomically, other keys kept).',
    '--sigstoretype lookaside (GPG simple signing; --sigstore URL is written to registries.d as the lookaside store) or',
    '--sigstoretype sigstore (cosign signatures attached in the registry; use-sigstore-attachments is turned on in registries.d),',
    'or --type reject|insecureAcceptAnything.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> trust add --sigstoretype lookaside --pubkeys /etc/pki/containers/apps.gpg --sigstore file:///var/lib/containers/sigstore registry.example.com/apps',
    '<%= config.bin %> trust add --sigstoretype sigstore --pubkeys /etc/pki/containers/cosign.pub registry.example.com/apps',
    '<%= config.bin %> trust add --type reject docker.io',
  ];
  static override args = { scope: Args.string({ required: true, description: 'REGISTRY[:PORT][/NAMESPACE][/REPO] (or a path with --transport oci).' }) };
  static override flags = {
    type: Flags.string({ description: 'Requirement type (default: signedBy, or as --sigstoretype says).', options: ['signedBy', 'sigstoreSigned', 'reject', 'insecureAcceptAnything', 'accept'] }),
    sigstoretype: Flags.string({ description: 'lookaside: GPG signatures from a lookaside store; sigstore: cosign signatures from the registry.', options: ['lookaside', 'sigstore'] }),
    pubkeys: Flags.string({ description: 'Public key file (GPG key, or cosign.pub for sigstore); repeatable.', multiple: true, multipleNonGreedy: true, helpValue: 'FILE' }),
    sigstore: Flags.string({ description: 'Lookaside URL of the GPG signatures (file://, http://, https://).', helpValue: 'URL' }),
    transport: Flags.string({ description: 'Policy transport of the scope.', options: ['docker', 'oci', 'oci-archive', 'docker-archive'], default: 'docker' }),
    'signature-policy': trustFlags['signature-policy'],
    'registries.d': trustFlags['registries.d'],
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TrustAdd);
    const ctx = this.makeContext(flags);
    ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
    const fromStore = flags.sigstoretype === 'sigstore' ? 'sigstoreSigned' : flags.sigstoretype === 'lookaside' ? 'signedBy' : undefined;
    let type = flags.type === 'accept' ? 'insecureAcceptAnything' : flags.type;
    if (type && fromStore && type !== fromStore) throw new AtomicError('USAGE', `--type ${type} and --sigstoretype ${flags.sigstoretype} disagree`);
    type ??= fromStore ?? 'signedBy';
    const edits = await trustAdd(ctx, { scope: args.scope, type: type as 'signedBy', pubkeys: flags.pubkeys, sigstore: flags.sigstore, transport: flags.transport });
    for (const e of edits) this.log(trustEditLine(e));
  }
}
