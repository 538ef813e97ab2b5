/**
 * The registry client's TLS set-up (src/image/registry/http.ts) against real node:https and
 * node:http servers with an openssl-made certificate: `speaksTls` (the probe asked before the
 * first HTTPS request to a loopback registry) and `tlsOptions` (node's roots extended by the
 * deferred NODE_EXTRA_CA_CERTS file and certs.d CAs, only the certificates that are not roots
 * added; no store at all without verification).
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { isCertError, speaksTls, tlsOptions, type TlsSettings } from '../../../src/image/registry/http.js';
import { makeTempDir } from '../../helpers/fixtures.js';
import { isolateExtraCaEnv, selfSignedCert } from '../../helpers/tls-cert.js';

function get(url: string, t: TlsSettings): Promise<number> {
  return new Promise((resolve, reject) => {
    const agent = new https.Agent({ keepAlive: false, ...tlsOptions(t) });
    https
      .get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

describe('integration: registry TLS context and the TLS probe', function () {
  this.timeout(60_000);
  let tmp: string;
  let caPem: string;
  let tlsServer: https.Server;
  let httpServer: http.Server;
  let tlsUrl: string;
  let httpUrl: string;
  let restoreEnv: () => void;
  const listen = async (s: net.Server) => {
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as AddressInfo).port;
  };

  before(async () => {
    tmp = makeTempDir('atomic-tls-context-');
    const made = selfSignedCert(tmp);
    caPem = made.cert;
    tlsServer = https.createServer({ key: made.key, cert: caPem }, (_req, res) => res.end('tls'));
    httpServer = http.createServer((_req, res) => res.end('plain'));
    tlsUrl = `https://127.0.0.1:${await listen(tlsServer)}/v2/`;
    httpUrl = `https://127.0.0.1:${await listen(httpServer)}/v2/`;
    restoreEnv = isolateExtraCaEnv();
  });
  after(() => {
    tlsServer.close();
    httpServer.close();
    restoreEnv?.();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  afterEach(() => {
    delete process.env.ATOMIC_NODE_EXTRA_CA_CERTS;
  });

  it('speaksTls: true for a TLS server (whatever its certificate), false for a plain-HTTP server, the socket error when nothing listens', async () => {
    assert.equal(await speaksTls(new URL(tlsUrl)), true);
    assert.equal(await speaksTls(new URL(httpUrl)), false);
    const closed = net.createServer();
    const port = await listen(closed);
    await new Promise<void>((r) => closed.close(() => r()));
    await assert.rejects(speaksTls(new URL(`https://127.0.0.1:${port}/v2/`)), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  });

  it('tlsOptions: the certs.d CA is trusted; without it the certificate is refused; without verification no CA is needed', async () => {
    assert.equal(await get(tlsUrl, { verify: true, ca: [Buffer.from(caPem)] }), 200);
    await assert.rejects(get(tlsUrl, { verify: true, ca: [] }), (e) => isCertError(e));
    assert.equal(await get(tlsUrl, { verify: false, ca: [] }), 200);
  });

  it('tlsOptions: a deferred NODE_EXTRA_CA_CERTS bundle (system roots + our CA, and the TRUSTED CERTIFICATE form) extends the roots', async () => {
    // a distribution-style bundle: some of node's own roots, then ours
    const bundle = path.join(tmp, 'bundle.pem');
    fs.writeFileSync(bundle, [...tls.rootCertificates.slice(0, 5), caPem].join('\n'));
    process.env.ATOMIC_NODE_EXTRA_CA_CERTS = bundle;
    assert.equal(await get(tlsUrl, { verify: true, ca: [] }), 200);
    // OpenSSL's trusted form (`openssl x509 -trustout`) is loaded as it is
    const trusted = path.join(tmp, 'trusted.pem');
    execFileSync('openssl', ['x509', '-in', path.join(tmp, 'ca.pem'), '-trustout', '-addtrust', 'serverAuth', '-out', trusted]);
    assert.match(fs.readFileSync(trusted, 'utf8'), /BEGIN TRUSTED CERTIFICATE/);
    process.env.ATOMIC_NODE_EXTRA_CA_CERTS = trusted;
    assert.equal(await get(tlsUrl, { verify: true, ca: [] }), 200);
    // a bundle of roots only: nothing to add, and our server stays untrusted
    const rootsOnly = path.join(tmp, 'roots.pem');
    fs.writeFileSync(rootsOnly, tls.rootCertificates.slice(0, 5).join('\n'));
    process.env.ATOMIC_NODE_EXTRA_CA_CERTS = rootsOnly;
    await assert.rejects(get(tlsUrl, { verify: true, ca: [] }), (e) => isCertError(e));
  });
});
