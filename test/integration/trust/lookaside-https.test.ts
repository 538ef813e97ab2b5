/**
 * Lookaside signatures over HTTPS (src/image/trust/fetch-signatures.ts) against a real node:https
 * server with an openssl-made certificate: the CA trusted through NODE_EXTRA_CA_CERTS as
 * bin/run.js defers it (ATOMIC_NODE_EXTRA_CA_CERTS, util/extra-ca.ts), refused without it,
 * redirects followed, 404 ends the list, and an oversized signature refused.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { fetchLookaside, type FetchedSignatures } from '../../../src/image/trust/fetch-signatures.js';
import { loadRegistriesD } from '../../../src/image/trust/registries-d.js';
import { parseDockerRef } from '../../../src/image/trust/docker-ref.js';
import { isAtomicError, type AtomicError } from '../../../src/util/errors.js';
import { makeTempDir } from '../../helpers/fixtures.js';
import { isolateExtraCaEnv, selfSignedCert } from '../../helpers/tls-cert.js';

describe('integration: lookaside signatures over HTTPS', function () {
  this.timeout(60_000);
  let tmp: string;
  let server: https.Server;
  let base: string;
  const digest = `sha256:${'ab'.repeat(32)}`;
  const sigPath = (repo: string, n: number) => `/sigs/${repo}@sha256=${'ab'.repeat(32)}/signature-${n}`;
  let restoreEnv: () => void;

  before(async () => {
    tmp = makeTempDir('atomic-lookaside-');
    const tls = selfSignedCert(tmp);
    server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      const u = req.url ?? '';
      if (u === sigPath('ns/app', 1)) return res.end('first signature');
      if (u === sigPath('ns/app', 2)) {
        res.writeHead(302, { Location: '/elsewhere/second' });
        return res.end();
      }
      if (u === '/elsewhere/second') return res.end('second signature');
      if (u === sigPath('ns/big', 1)) {
        // no Content-Length: the limit must hold while reading
        res.writeHead(200, { 'Transfer-Encoding': 'chunked' });
        const chunk = Buffer.alloc(1 << 20, 0x41);
        for (let i = 0; i < 5; i++) res.write(chunk);
        return res.end();
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}/sigs`;
    fs.mkdirSync(path.join(tmp, 'registries.d'));
    fs.writeFileSync(path.join(tmp, 'registries.d', 'test.yaml'), `docker:\n  r.io/ns:\n    lookaside: ${base}\n`);
    // a NODE_EXTRA_CA_CERTS that node did not load at start-up (bin/run.js's launcher line)
    restoreEnv = isolateExtraCaEnv();
  });
  after(() => {
    restoreEnv?.();
    server?.closeAllConnections();
    server?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const fetched = (): FetchedSignatures => ({ gpg: [], sigstore: [], looked: [] });
  /** The error of reading REF's lookaside signatures with CA_FILE (in tmp) as the deferred NODE_EXTRA_CA_CERTS. */
  const failure = async (caFile: string, ref: string): Promise<AtomicError> => {
    process.env.ATOMIC_NODE_EXTRA_CA_CERTS = path.join(tmp, caFile);
    let err: unknown;
    await fetchLookaside(loadRegistriesD(path.join(tmp, 'registries.d')), parseDockerRef(ref), digest, fetched()).catch((e) => (err = e));
    assert.ok(isAtomicError(err), String(err));
    return err;
  };

  it('with the CA deferred from NODE_EXTRA_CA_CERTS: every signature until the first 404, redirects followed', async () => {
    process.env.ATOMIC_NODE_EXTRA_CA_CERTS = path.join(tmp, 'ca.pem');
    const into = fetched();
    await fetchLookaside(loadRegistriesD(path.join(tmp, 'registries.d')), parseDockerRef('r.io/ns/app:1'), digest, into);
    assert.deepEqual(
      into.gpg.map((b) => b.toString()),
      ['first signature', 'second signature'],
    );
    assert.match(into.looked[0], /^lookaside https:\/\/127\.0\.0\.1:\d+\/sigs\/ns\/app@sha256=/);
  });

  it('without that CA: refused with an IO error naming the signature URL', async () => {
    const err = await failure('missing-ca.pem', 'r.io/ns/app:1');
    assert.equal(err.code, 'IO');
    assert.match(err.message, /^reading signature https:\/\/127\.0\.0\.1:\d+\/sigs\/ns\/app@sha256=[0-9a-f]+\/signature-1: .*(self[- ]signed|certificate)/i);
  });

  it('a signature over 4 MiB without Content-Length: IMAGE_TOO_LARGE', async () => {
    const err = await failure('ca.pem', 'r.io/ns/big:1');
    assert.equal(err.code, 'IMAGE_TOO_LARGE');
    assert.match(err.message, /signature-1 is too large: the limit is 4 MiB \(4194304 bytes\)/);
  });
});
