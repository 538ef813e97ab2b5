/**
 * The values of the registry flags (image/registry/cli-flags.ts) as pull options; no oclif here
 * (the start-up fast path, cli/fast-path.ts, uses it).
 */
import { AtomicError } from '../../util/errors.js';
import type { Platform } from '../source.js';
import type { RegistrySourceOptions } from './source.js';

export interface RegistryFlagValues {
  'src-creds'?: string;
  'tls-verify'?: string;
  'cert-dir'?: string;
  platform?: string;
  arch?: string;
}

export function registryOptionsFromFlags(f: RegistryFlagValues): { registry: RegistrySourceOptions; platform?: Partial<Platform> } {
  const registry: RegistrySourceOptions = {};
  if (f['src-creds'] !== undefined) registry.creds = f['src-creds'];
  if (f['tls-verify'] !== undefined) registry.tlsVerify = f['tls-verify'] === 'true';
  if (f['cert-dir'] !== undefined) registry.certDir = f['cert-dir'];
  let platform: Partial<Platform> | undefined;
  if (f.platform !== undefined) {
    const parts = f.platform.split('/');
    if (parts.length < 2 || parts.length > 3 || parts.some((x) => !/^[a-z0-9._-]+$/i.test(x))) {
      throw new AtomicError('USAGE', `--platform "${f.platform}" is not OS/ARCH[/VARIANT]`, { suggestions: ['For example --platform linux/arm64 or --platform linux/arm/v7.'] });
    }
    platform = { os: parts[0]!, architecture: parts[1]! };
    if (parts[2]) platform.variant = parts[2];
  }
  if (f.arch !== undefined) {
    if (!/^[a-z0-9._-]+$/i.test(f.arch)) throw new AtomicError('USAGE', `--arch "${f.arch}" is not an architecture name`);
    platform = { ...(platform ?? {}), architecture: f.arch };
  }
  return { registry, platform };
}
