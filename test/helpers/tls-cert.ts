/**
 * A self-signed certificate for 127.0.0.1 made by openssl (the real tool, as the registry fixture
 * does), for tests that run a node:https server: `key.pem` and `ca.pem` (the certificate, which is
 * also its own CA) in DIR. And the NODE_EXTRA_CA_CERTS variables saved and restored around a test
 * that sets them.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface SelfSigned {
  key: Buffer;
  /** The certificate (PEM), also the CA that verifies it. */
  cert: string;
  /** Its file: DIR/ca.pem. */
  caFile: string;
}

export function selfSignedCert(dir: string): SelfSigned {
  const keyFile = path.join(dir, 'key.pem');
  const caFile = path.join(dir, 'ca.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', caFile],
    { stdio: 'ignore' },
  );
  return { key: fs.readFileSync(keyFile), cert: fs.readFileSync(caFile, 'utf8'), caFile };
}

/** Saves ATOMIC_NODE_EXTRA_CA_CERTS and NODE_EXTRA_CA_CERTS, unsets both; the returned function restores them. */
export function isolateExtraCaEnv(): () => void {
  const saved = { ATOMIC_NODE_EXTRA_CA_CERTS: process.env.ATOMIC_NODE_EXTRA_CA_CERTS, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS };
  delete process.env.ATOMIC_NODE_EXTRA_CA_CERTS;
  delete process.env.NODE_EXTRA_CA_CERTS;
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}
