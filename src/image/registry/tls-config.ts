/**
 * TLS and plain-HTTP rules for a registry host (docs/registries.md):
 * - CAs: the system roots plus every `*.crt` in the host's certs.d directory
 *   (`/etc/containers/certs.d/HOST[:PORT]/`, then `/etc/docker/certs.d/HOST[:PORT]/`), or in
 *   `--cert-dir DIR` instead. `$ATOMIC_CERTS_D` replaces the certs.d root (one directory).
 *   A `NAME.cert` with its `NAME.key` there is a client certificate.
 * - Verification is off for `http:` references, `--tls-verify=false` and registries.conf
 *   `insecure = true`; such registries may also be reached over plain HTTP.
 * - Like Docker, a registry on a loopback address (127.0.0.0/8, ::1, localhost) may be reached over
 *   plain HTTP by default; HTTPS is still tried first and its certificate is still verified.
 *   An explicit `--tls-verify=true` turns the plain-HTTP fallback off.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AtomicError } from '../../util/errors.js';
import type { TlsSettings } from './http.js';
import { atomicEnv } from '../../util/env.js';

export const CERTS_D_ROOTS = ['/etc/containers/certs.d', '/etc/docker/certs.d'];

export function certsDRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  const certsD = atomicEnv('ATOMIC_CERTS_D', env);
  return certsD ? [certsD] : CERTS_D_ROOTS;
}

/** Host part of `host[:port]` without brackets. */
export function hostnameOf(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, hostPort.indexOf(']'));
  const i = hostPort.lastIndexOf(':');
  return i >= 0 && hostPort.indexOf(':') === i ? hostPort.slice(0, i) : hostPort;
}

export function isLoopbackHost(hostPort: string): boolean {
  const h = hostnameOf(hostPort).toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m.slice(1).every((x) => Number(x) <= 255);
}

/** Read the CA / client certificate files of one directory (missing directory → nothing). */
export function readCertDir(dir: string, into: TlsSettings, strict = false): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir).sort();
  } catch (e) {
    if (strict) throw new AtomicError('USAGE', `cannot read the certificate directory ${dir}: ${(e as Error).message}`, { ref: dir });
    return;
  }
  for (const n of names) {
    const p = path.join(dir, n);
    if (n.endsWith('.crt')) into.ca.push(fs.readFileSync(p));
    else if (n.endsWith('.cert')) {
      const key = path.join(dir, `${n.slice(0, -'.cert'.length)}.key`);
      if (!fs.existsSync(key)) throw new AtomicError('USAGE', `client certificate ${p} has no key ${key}`, { ref: p });
      into.cert = fs.readFileSync(p);
      into.key = fs.readFileSync(key);
    }
  }
}

/** TLS settings for `hostPort`: certDir (if given) or the certs.d directories. */
export function tlsSettingsFor(hostPort: string, verify: boolean, certDir?: string, env: NodeJS.ProcessEnv = process.env): TlsSettings {
  const t: TlsSettings = { verify, ca: [] };
  if (certDir !== undefined) readCertDir(certDir, t, true);
  else for (const root of certsDRoots(env)) readCertDir(path.join(root, hostPort), t);
  return t;
}
