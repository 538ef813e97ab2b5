/**
 * The signature-policy flags (skopeo's names) shared by every command that pulls or re-checks an
 * image: --signature-policy FILE, --registries.d DIR, --insecure-policy.
 */
import { Flags } from '@oclif/core';
import type { TrustSettings } from '../image/trust/policy.js';

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

export interface TrustFlagValues {
  'signature-policy'?: string;
  'registries.d'?: string;
  'insecure-policy'?: boolean;
}

export function trustSettingsFromFlags(f: TrustFlagValues, userMode?: boolean): TrustSettings {
  const s: TrustSettings = {};
  if (f['signature-policy'] !== undefined) s.policyPath = f['signature-policy'];
  if (f['registries.d'] !== undefined) s.registriesDir = f['registries.d'];
  if (f['insecure-policy']) s.insecurePolicy = true;
  if (userMode !== undefined) s.userMode = userMode;
  return s;
}
