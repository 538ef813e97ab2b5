/**
 * Hostile values reaching the features of the option records, the health gate and CNI networking
 * (docs/security.md): each case is an attack tried, with what must happen instead.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseIniRecord, validateOptionRecord } from '../../../src/render/options.js';
import { readHostConfText, MAX_HOST_CONF } from '../../../src/deploy/option-record.js';
import { checkImageProbeTarget, isLoopbackHost, manifestHealth, parseHealthFlag } from '../../../src/deploy/health-spec.js';
import { runProbe } from '../../../src/deploy/health-gate.js';
import { terminalSafe } from '../../../src/host/probes.js';
import { cniState } from '../../../src/host/cni.js';
import { atomicWriteSync } from '../../../src/util/atomic-write.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { makeTempDir } from '../../helpers/fixtures.js';

function throwsCode(f: () => unknown, code: string, re: RegExp): void {
  assert.throws(f, (e: unknown) => isAtomicError(e) && e.code === code && re.test(e.message), `expected ${code} matching ${re}`);
}

describe('hostile inputs: option records, health checks, CNI state', () => {
  let work: string;
  before(() => (work = makeTempDir('atomic-hostile-unit-')));
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('a record file setting a key twice (also in another case) is refused naming both lines, not silently resolved', () => {
    throwsCode(() => parseIniRecord('MaxMemory=64\n# x\nmaxmemory=1G\n', '/etc/containers/atomic/w.conf'), 'USAGE', /w\.conf:3: MaxMemory is set twice \(lines 1 and 3\)/);
  });

  it('CR/LF line ends are read; a lone CR cannot smuggle a second key or a unit line into a value', () => {
    assert.deepEqual(parseIniRecord('[w]\r\nMaxMemory=64\r\ncpu=50\r\n', 'f'), { MaxMemory: '64', cpu: '50' });
    const r = parseIniRecord('StartAt=*-*-* 20:00\rExecStartPre=/bin/evil\n', 'f');
    throwsCode(() => validateOptionRecord(r, 'f'), 'USAGE', /invalid value .*\\r.* for StartAt/);
    throwsCode(() => validateOptionRecord(parseIniRecord('MaxMemory=64\rcpu=50\n', 'f'), 'f'), 'USAGE', /for MaxMemory/);
  });

  it('a record file that is a FIFO, a device, too big, has a NUL byte or is not UTF-8 is refused naming the file', () => {
    const f = (n: string) => path.join(work, n);
    fs.writeFileSync(f('ok.conf'), 'MaxMemory=64\n');
    assert.equal(readHostConfText(f('ok.conf')), 'MaxMemory=64\n');
    assert.equal(readHostConfText(f('absent.conf')), null);
    fs.symlinkSync(f('ok.conf'), f('link.conf'));
    assert.equal(readHostConfText(f('link.conf')), 'MaxMemory=64\n', "a symlink to a regular file is the admin's choice");
    fs.symlinkSync('/dev/zero', f('zero.conf'));
    throwsCode(() => readHostConfText(f('zero.conf')), 'USAGE', /zero\.conf: is not a regular file/);
    const fifo = f('fifo.conf');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    throwsCode(() => readHostConfText(fifo), 'USAGE', /fifo\.conf: is not a regular file/); // and does not hang
    fs.writeFileSync(f('big.conf'), '#'.repeat(MAX_HOST_CONF + 1));
    throwsCode(() => readHostConfText(f('big.conf')), 'USAGE', /big\.conf: is 65537 bytes; an option record is at most 65536 bytes/);
    fs.writeFileSync(f('nul.conf'), 'cpu=50\nMaxMemory=6\u00004\n');
    throwsCode(() => readHostConfText(f('nul.conf')), 'USAGE', /nul\.conf: line 2 contains a NUL byte/);
    fs.writeFileSync(f('latin1.conf'), Buffer.from([0x63, 0x70, 0x75, 0x3d, 0x35, 0x30, 0xe9, 0x0a]));
    throwsCode(() => readHostConfText(f('latin1.conf')), 'USAGE', /latin1\.conf: is not valid UTF-8/);
  });

  it("MountPath and DataMountPath must be clean absolute paths; a bind cannot replace the container's /", () => {
    for (const v of ['/srv/../etc:/data', '/srv:/data/../../etc', '/srv/./www:/www', '/srv//www', '/srv/www/:/www']) {
      throwsCode(() => validateOptionRecord({ MountPath: v }), 'USAGE', /MountPath=.*is not a clean absolute path/);
    }
    throwsCode(() => validateOptionRecord({ MountPath: '/srv:/' }), 'USAGE', /cannot replace the container's root/);
    throwsCode(() => validateOptionRecord({ DataMount: 'host', DataMountPath: '/var/lib/../../etc' }), 'USAGE', /DataMountPath=.* is not a clean absolute directory/);
    throwsCode(() => validateOptionRecord({ DataMount: 'host', DataMountPath: '/' }), 'USAGE', /DataMountPath/);
    validateOptionRecord({ MountPath: '/srv/www:/var/www:ro,/:/host:ro', DataMount: 'host', DataMountPath: '/var/lib/data' });
  });

  it("an image's http/tcp readiness check may only target loopback; the admin's --health-check may name any host", () => {
    for (const h of ['127.0.0.1', '127.3.2.1', 'localhost', 'LOCALHOST', '::1', '[::1]', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) assert.ok(isLoopbackHost(h), h);
    for (const h of ['10.0.0.1', '169.254.169.254', '127.0.0.1.evil.example', 'localhost.example', '::', '0.0.0.0', '128.0.0.1', '127.0.0.256']) assert.ok(!isLoopbackHost(h), h);
    const mf = (hc: Record<string, unknown>, values: Record<string, string> = {}) => manifestHealth(hc, values, 'img: /exports/manifest.json');
    checkImageProbeTarget(mf({ type: 'http', url: 'http://127.0.0.1:8080/' })!, 'img');
    checkImageProbeTarget(mf({ type: 'tcp', address: 8080 })!, 'img');
    checkImageProbeTarget(mf({ type: 'exec', command: 'true' })!, 'img');
    throwsCode(
      () => checkImageProbeTarget(mf({ type: 'http', url: 'http://169.254.169.254/latest/meta-data/' })!, 'img'),
      'UNSAFE_INPUT',
      /healthCheck of img .*"http:\/\/169\.254\.169\.254\/latest\/meta-data\/", which is not this host's loopback/,
    );
    throwsCode(() => checkImageProbeTarget(mf({ type: 'tcp', address: 'db.internal:5432' })!, 'img'), 'UNSAFE_INPUT', /"db\.internal:5432"/);
    // a user-info trick: the host of http://127.0.0.1@evil/ is evil
    throwsCode(() => checkImageProbeTarget(mf({ type: 'http', url: 'http://127.0.0.1:80@10.1.2.3/' })!, 'img'), 'UNSAFE_INPUT', /not this host's loopback/);
    // rendered values count: the image's default for $HOST is checked after rendering
    throwsCode(() => checkImageProbeTarget(mf({ type: 'http', url: 'http://$HOST:80/' }, { HOST: '192.0.2.7' })!, 'img'), 'UNSAFE_INPUT', /192\.0\.2\.7/);
    checkImageProbeTarget(parseHealthFlag('http://192.0.2.7:80/'), 'img');
  });

  it('a stored non-loopback image check (a deployment from before the rule) is not run by the gate', async () => {
    const r = await runProbe({ source: 'manifest', type: 'tcp', address: '192.0.2.1:9', timeout: 0.2, interval: 1 }, 'c', 'runc');
    assert.equal(r.ok, false);
    assert.match(r.output, /^not run: .*not this host's loopback/);
  });

  it("what a container prints (probe output, journal lines) reaches the operator's terminal without control sequences", () => {
    assert.equal(terminalSafe('ok\x1b]0;pwned\x07\x1b[2J\rdone\ttab\nline'), 'ok\\x1b]0;pwned\\x07\\x1b[2J\\x0ddone\ttab\nline');
    assert.equal(terminalSafe('\u009b31m'), '\\x9b31m');
  });

  it('a CNI state file naming plugins we do not run or another namespace is ignored (its plugin type is a binary name)', () => {
    const dir = path.join(work, 'cni');
    fs.mkdirSync(dir, { mode: 0o700 });
    const prev = process.env.ATOMIC_CNI_STATE;
    process.env.ATOMIC_CNI_STATE = dir;
    try {
      const good = { netns: 'atomic-c', ports: [], conflist: { plugins: [{ type: 'bridge' }, { type: 'portmap' }] }, result: {} };
      fs.writeFileSync(path.join(dir, 'c.json'), JSON.stringify(good));
      assert.equal(cniState('c', 'atomic-c')?.netns, 'atomic-c');
      fs.writeFileSync(path.join(dir, 'c.json'), JSON.stringify({ ...good, conflist: { plugins: [{ type: '../../../tmp/evil' }] } }));
      assert.equal(cniState('c', 'atomic-c'), null);
      fs.writeFileSync(path.join(dir, 'c.json'), JSON.stringify({ ...good, netns: 'atomic-other' }));
      assert.equal(cniState('c', 'atomic-c'), null, "another container's namespace is never deleted through c's state");
      fs.rmSync(path.join(dir, 'c.json'));
      fs.writeFileSync(path.join(work, 'elsewhere.json'), JSON.stringify(good));
      fs.symlinkSync(path.join(work, 'elsewhere.json'), path.join(dir, 'c.json'));
      assert.equal(cniState('c', 'atomic-c'), null, 'a symlink is not a state file');
    } finally {
      if (prev === undefined) delete process.env.ATOMIC_CNI_STATE;
      else process.env.ATOMIC_CNI_STATE = prev;
    }
  });

  it('atomicWriteSync replaces a symlink planted at the target instead of writing through it', () => {
    const victim = path.join(work, 'victim');
    fs.writeFileSync(victim, 'host file\n');
    const target = path.join(work, 'state.json');
    fs.symlinkSync(victim, target);
    atomicWriteSync(target, '{}\n', { mode: 0o600 });
    assert.equal(fs.readFileSync(victim, 'utf8'), 'host file\n');
    assert.ok(fs.lstatSync(target).isFile());
    assert.equal(fs.statSync(target).mode & 0o777, 0o600);
    assert.deepEqual(
      fs.readdirSync(work).filter((n) => n.includes('.tmp-')),
      [],
    );
  });
});
