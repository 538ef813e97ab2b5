/**
 * The registry flags shared by `pull` and `images update` (--src-creds, --tls-verify, --cert-dir,
 * --platform, --arch); their conversion into pull options is in flag-values.ts (no oclif there:
 * the start-up fast path uses it).
 */
import { Flags } from '@oclif/core';

export const registryFlags = {
  'src-creds': Flags.string({ description: 'Registry credentials USER[:PASSWORD] (registry sources).', helpValue: 'USER[:PASS]' }),
  'tls-verify': Flags.string({
    description: 'Verify the registry TLS certificate (default true; false also allows plain HTTP). Loopback registries may use plain HTTP by default.',
    helpValue: 'true|false',
    options: ['true', 'false'],
  }),
  'cert-dir': Flags.string({
    description: 'Use the CA certificates (*.crt) and client certificate (*.cert/*.key) in DIR instead of /etc/containers/certs.d/HOST:PORT.',
    helpValue: 'DIR',
  }),
  platform: Flags.string({ description: 'Platform to pick from an image index / manifest list (default: this host).', helpValue: 'OS/ARCH[/VARIANT]' }),
  arch: Flags.string({ description: 'Architecture to pick from an image index / manifest list (e.g. arm64).', helpValue: 'ARCH' }),
};

export { registryOptionsFromFlags, type RegistryFlagValues } from './flag-values.js';
