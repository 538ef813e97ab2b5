import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as net from 'node:net';
import { parseHealthFlag, manifestHealth, dockerHealth, chooseHealth, describeHealth } from '../../../src/deploy/health-spec.js';
import { httpProbe, tcpProbe } from '../../../src/host/probes.js';
import { parseExportsManifest } from '../../../src/render/exports-manifest.js';
import { isAtomicError } from '../../../src/util/errors.js';

const FILE = '/x/rootfs/exports/manifest.json';

describe('deploy/health-spec and host/probes', () => {
  it('--health-check: none, http(s) URL, tcp:HOST:PORT / tcp:PORT, exec:COMMAND; anything else is a usage error', () => {
    assert.equal(parseHealthFlag('none').type, 'none');
    assert.deepEqual(parseHealthFlag('http://127.0.0.1:8080/healthz'), { source: 'flag', type: 'http', url: 'http://127.0.0.1:8080/healthz', timeout: 2, interval: 1 });
    assert.equal(parseHealthFlag('tcp:127.0.0.1:53').address, '127.0.0.1:53');
    assert.equal(parseHealthFlag('tcp:8080').address, '8080');
    assert.deepEqual(parseHealthFlag('exec:test -f /ready').command, ['/bin/sh', '-c', 'test -f /ready']);
    for (const bad of ['', 'http:/x', 'tcp:', 'tcp:host', 'exec:', 'ftp://x', 'curl localhost']) {
      assert.throws(() => parseHealthFlag(bad), (e: unknown) => isAtomicError(e) && e.code === 'USAGE' && e.message.includes(`'${bad}'`), bad);
    }
  });

  it('manifest healthCheck: validated by the schema, rendered with the values', () => {
    const { manifest, warnings } = parseExportsManifest(JSON.stringify({ defaultValues: { PORT: '1' }, healthCheck: { type: 'http', url: 'http://127.0.0.1:$PORT/h', timeout: 3 } }), FILE);
    assert.deepEqual(warnings, [], 'healthCheck is a known key');
    const spec = manifestHealth(manifest.raw.healthCheck, { PORT: '8081' }, FILE);
    assert.deepEqual(spec, { source: 'manifest', type: 'http', url: 'http://127.0.0.1:8081/h', timeout: 3, interval: 1 });
    assert.deepEqual(manifestHealth({ type: 'exec', command: 'test -f /x' }, {}, FILE)?.command, ['/bin/sh', '-c', 'test -f /x']);
    assert.deepEqual(manifestHealth({ type: 'tcp', address: 53 }, {}, FILE)?.address, '53');
    assert.throws(() => manifestHealth({ type: 'http', url: 'http://h:$NOPE/' }, {}, FILE), (e: unknown) => isAtomicError(e) && e.code === 'RENDER_UNKNOWN_VARIABLE');
    for (const bad of [{ type: 'http' }, { type: 'tcp' }, { type: 'exec', command: [] }, { type: 'grpc' }, { type: 'http', url: 'x', timeout: 0 }, { type: 'none', extra: 1 }, 'http://x']) {
      assert.throws(() => parseExportsManifest(JSON.stringify({ healthCheck: bad }), FILE), (e: unknown) => isAtomicError(e) && e.code === 'SCHEMA_INVALID' && e.message.includes('healthCheck'), JSON.stringify(bad));
    }
  });

  it('Docker Healthcheck: CMD and CMD-SHELL become exec checks, NONE no check; flag > manifest > image', () => {
    assert.deepEqual(dockerHealth({ Healthcheck: { Test: ['CMD', '/bin/check', '-q'], Timeout: 3e9 } }), { source: 'image', type: 'exec', command: ['/bin/check', '-q'], timeout: 3, interval: 1 });
    assert.deepEqual(dockerHealth({ Healthcheck: { Test: ['CMD-SHELL', 'wget -q localhost'] } })?.command, ['/bin/sh', '-c', 'wget -q localhost']);
    assert.equal(dockerHealth({ Healthcheck: { Test: ['NONE'] } })?.type, 'none');
    assert.equal(dockerHealth({}), null);
    assert.equal(dockerHealth({ Healthcheck: { Test: 'CMD true' } }), null);
    const f = parseHealthFlag('tcp:1');
    const m = manifestHealth({ type: 'tcp', address: '2' }, {}, FILE);
    const i = dockerHealth({ Healthcheck: { Test: ['CMD', 'true'] } });
    assert.equal(chooseHealth(f, m, i), f);
    assert.equal(chooseHealth(null, m, i), m);
    assert.equal(chooseHealth(undefined, null, i), i);
    assert.equal(chooseHealth(null, null, null), null);
    assert.match(describeHealth(m), /TCP 2 passes \(from manifest\.json healthCheck\)/);
    assert.equal(describeHealth(null), 'unit stays active');
  });

  it('http and tcp probes against real listeners: 200 passes, 404 fails with the status, a closed port fails', async () => {
    const srv = http.createServer((req, res) => {
      res.statusCode = req.url === '/ok' ? 200 : 404;
      res.end(req.url === '/ok' ? 'fine\n' : 'nope\n');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      const ok = await httpProbe(`http://127.0.0.1:${port}/ok`, 2000);
      assert.equal(ok.ok, true, ok.output);
      const bad = await httpProbe(`http://127.0.0.1:${port}/missing`, 2000);
      assert.equal(bad.ok, false);
      assert.match(bad.output, /HTTP 404/);
      assert.equal((await tcpProbe(`127.0.0.1:${port}`, 2000)).ok, true);
      assert.equal((await tcpProbe(String(port), 2000)).ok, true);
    } finally {
      await new Promise((r) => srv.close(r));
    }
    const closed = await tcpProbe(`127.0.0.1:${port}`, 2000);
    assert.equal(closed.ok, false);
    assert.match(closed.output, /ECONNREFUSED/);
    assert.match((await httpProbe(`http://127.0.0.1:${port}/`, 2000)).output, /ECONNREFUSED/);
  });
});
