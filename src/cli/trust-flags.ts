/**
 * The signature-policy flags (skopeo's names) shared by every command that pulls or re-checks an
 * image: --signature-policy FILE, --registries.d DIR, --insecure-policy.
 */
import { Flags } from '@oclif/core';

export const trustFlags = {
  'signature-policy': Flags.string({
    description: 'Signature policy (containers-policy.json) to use instead of /etc/containers/policy.json ($HOME/.config/containers/policy.json for users when it exists).',
    helpValue: 'FILE',
  }),
  'registries.d': Flags.string({
    description: 'Directory of containers-registries.d files (lookaside URLs, use-sigstore-attachments) instead of /etc/containers/registries.d.',
    helpValue: 'DIR',
  }),
  'insecure-policy': Flags.boolean({ description: 'Do not check the signature policy (the output says so).' }),
};

export { trustSettingsFromFlags, type TrustFlagValues } from './trust-settings.js';
