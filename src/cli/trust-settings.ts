/** The values of the signature-policy flags (cli/trust-flags.ts) as TrustSettings; no oclif here (cli/fast-path.ts uses it). */
import type { TrustSettings } from '../image/trust/policy.js';

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
