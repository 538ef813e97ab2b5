import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { parseDigest, verifyBuffer } from '../../../src/image/digest.js';
import { verifyStream } from '../../../src/image/verified-stream.js';
import { parseJson, readFileAtMost, readStreamAtMost } from '../../../src/util/bounded-read.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { codeOf } from '../../helpers/error-code.js';
import { makeTempDir } from '../../helpers/fixtures.js';

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('image/verified-stream and util/bounded-read', () => {
  const data = Buffer.from('x'.repeat(100_000));
  const chunks = (b: Buffer): Readable => Readable.from([b.subarray(0, 40_000), b.subarray(40_000)]);

  it('passes a correct blob through unchanged', async () => {
    const out = await readStreamAtMost(verifyStream(chunks(data), digestOf(data), data.length), 1 << 20, 'blob');
    assert.deepEqual(out, data);
  });
  it('digest mismatch names blob, expected and actual', async () => {
    const other = Buffer.from('y'.repeat(100_000));
    let err: unknown;
    await readStreamAtMost(verifyStream(chunks(other), digestOf(data), data.length), 1 << 20, 'blob').catch((e) => (err = e));
    assert.ok(isAtomicError(err));
    assert.equal(err.code, 'DIGEST_MISMATCH');
    assert.ok(err.message.includes(digestOf(data)) && err.message.includes(digestOf(other)));
  });
  it('size mismatch: short at the end, long at once', async () => {
    assert.equal(await codeOf(() => readStreamAtMost(verifyStream(chunks(data), digestOf(data), data.length + 1), 1 << 20, 'b')), 'SIZE_MISMATCH');
    let pulled = 0;
    const endless = new Readable({ read() { pulled++; this.push(Buffer.alloc(65536)); } });
    assert.equal(await codeOf(() => readStreamAtMost(verifyStream(endless, digestOf(data), 10), 1 << 30, 'b')), 'SIZE_MISMATCH');
    assert.ok(pulled < 10, `read ${pulled} chunks of an endless stream`);
  });
  it('source stream errors are forwarded', async () => {
    const failing = new Readable({ read() { this.destroy(new Error('disk on fire')); } });
    let err: unknown;
    await readStreamAtMost(verifyStream(failing, digestOf(data), 1), 100, 'b').catch((e) => (err = e));
    assert.match(String((err as Error).message), /disk on fire/);
  });
  it('digest parsing and buffer verification', async () => {
    assert.deepEqual(parseDigest(digestOf(data)).algorithm, 'sha256');
    assert.equal(await codeOf(() => parseDigest('sha256:abc')), 'IMAGE_INVALID');
    assert.equal(await codeOf(() => parseDigest('blake3:' + 'a'.repeat(64))), 'IMAGE_UNSUPPORTED');
    assert.equal(await codeOf(() => verifyBuffer(data, digestOf(data), data.length)), 'OK');
    assert.equal(await codeOf(() => verifyBuffer(data, digestOf(data), 5)), 'SIZE_MISMATCH');
    assert.equal(await codeOf(() => verifyBuffer(data, digestOf(Buffer.from('z')), undefined)), 'DIGEST_MISMATCH');
  });
  it('bounded reads name the limit; parseJson names the file', async () => {
    let err: unknown;
    await readStreamAtMost(Readable.from([data]), 1024, 'image manifest').catch((e) => (err = e));
    assert.ok(isAtomicError(err) && err.code === 'IMAGE_TOO_LARGE');
    assert.match(err.message, /image manifest.*1 KiB/);
    const dir = makeTempDir('atomic-bounded-');
    try {
      const f = path.join(dir, 'm.json');
      fs.writeFileSync(f, data);
      assert.equal((await readFileAtMost(f, data.length, 'm')).length, data.length);
      assert.equal(await codeOf(() => readFileAtMost(f, data.length - 1, 'm')), 'IMAGE_TOO_LARGE');
      assert.equal(await codeOf(() => readFileAtMost(path.join(dir, 'none'), 10, 'm')), 'IMAGE_NOT_FOUND');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    err = undefined;
    try {
      parseJson('{', '/some/index.json');
    } catch (e) {
      err = e;
    }
    assert.ok(isAtomicError(err) && err.code === 'IMAGE_INVALID' && err.message.includes('/some/index.json'));
  });
});
