import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { TarGuard, checkSymlinkTarget, normalizeEntryPath, parsePaxRecords } from '../../../src/store/tar-safety.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { code as codeOf } from '../../helpers/error-code.js';
import { fixChecksum, rawHeader } from '../../helpers/tar.js';

describe('tar-safety: normalizeEntryPath', () => {
  const ok: Array<[string, string[]]> = [
    ['/', []],
    ['//', []],
    ['.', []],
    ['./', []],
    ['././', []],
    ['etc', ['etc']],
    ['etc/', ['etc']],
    ['./etc/passwd', ['etc', 'passwd']],
    ['usr/lib/x86_64-linux-gnu/libc.so.6', ['usr', 'lib', 'x86_64-linux-gnu', 'libc.so.6']],
    ['data/.wh.remove-me', ['data', '.wh.remove-me']],
    ['opq/.wh..wh..opq', ['opq', '.wh..wh..opq']],
    ['café/ünï', ['café', 'ünï']],
    ['a/...', ['a', '...']],
    ['a/..b', ['a', '..b']],
    ['x'.repeat(255), ['x'.repeat(255)]],
    // Absolute names are relative to the image root (GNU tar, bsdtar, umoci).
    ['/etc/passwd', ['etc', 'passwd']],
    ['/./x', ['x']],
    ['//usr//', ['usr']],
    // Newline, CR and tab are ordinary bytes of a name (ostree stores them).
    ['a\nb', ['a\nb']],
    ['c\r\td', ['c\r\td']],
  ];
  for (const [name, parts] of ok) {
    it(`accepts ${JSON.stringify(name)}`, () => assert.deepEqual(normalizeEntryPath(name), parts));
  }

  const bad: Array<[string, string, RegExp]> = [
    ['../etc/passwd', 'UNSAFE_PATH', /"\.\."/],
    ['a/../../b', 'UNSAFE_PATH', /"\.\."/],
    ['./..', 'UNSAFE_PATH', /"\.\."/],
    ['..', 'UNSAFE_PATH', /"\.\."/],
    ['/../etc/passwd', 'UNSAFE_PATH', /"\.\."/],
    ['a//b', 'UNSAFE_PATH', /empty/],
    ['a/./b', 'UNSAFE_PATH', /empty or "\."/],
    ['a\0b', 'UNSAFE_PATH', /NUL/],
    ['bad\uFFFDname', 'LAYER_INVALID', /UTF-8/],
    ['y'.repeat(256), 'UNSAFE_PATH', /255/],
    [`${'d/'.repeat(2100)}f`, 'UNSAFE_PATH', /4096/],
    [`${'d/'.repeat(600)}f`, 'UNSAFE_PATH', /deeper/],
  ];
  for (const [name, code, re] of bad) {
    it(`refuses ${JSON.stringify(name.slice(0, 30))} with ${code}`, () => {
      assert.equal(codeOf(() => normalizeEntryPath(name)), code);
      assert.throws(() => normalizeEntryPath(name), re);
    });
  }

  it('names the entry in the message and suggests what to do', () => {
    try {
      normalizeEntryPath('../../etc/shadow');
      assert.fail('no error');
    } catch (e) {
      assert.ok(isAtomicError(e));
      assert.match(e.message, /\.\.\/\.\.\/etc\/shadow/);
      assert.ok(e.suggestions.length > 0);
    }
  });
});

describe('tar-safety: checkSymlinkTarget', () => {
  const cases: Array<[string, string]> = [
    ['/etc/os-release', 'OK'],
    ['../../a/hello.txt', 'OK'],
    ['busybox', 'OK'],
    ['', 'LAYER_INVALID'],
    ['a\0b', 'UNSAFE_PATH'],
    ['x\uFFFD', 'LAYER_INVALID'],
    ['t'.repeat(4096), 'UNSAFE_PATH'],
  ];
  for (const [target, code] of cases) {
    it(`${JSON.stringify(target.slice(0, 20))} -> ${code}`, () => assert.equal(codeOf(() => checkSymlinkTarget('link', target)), code));
  }
});

describe('tar-safety: parsePaxRecords', () => {
  it('keeps raw binary values', () => {
    const val = Buffer.from([0x01, 0x00, 0xff, 0xfe, 0x0a]);
    const body = Buffer.concat([Buffer.from('SCHILY.xattr.security.capability='), val]);
    const total = body.length + 2 + 2; // two length digits, space, newline
    const rec = Buffer.concat([Buffer.from(`${total} `), body, Buffer.from('\n')]);
    assert.equal(rec.length, total);
    const m = parsePaxRecords(Buffer.concat([rec, Buffer.from('11 uid=123\n')]));
    assert.deepEqual(m.get('SCHILY.xattr.security.capability'), val);
    assert.equal(m.get('uid')?.toString(), '123');
  });
  const bad = ['x', '99 path=a\n', '5 a=b\n', '7 =abc\n', '10 pathabc\n'];
  for (const b of bad) {
    it(`refuses malformed record ${JSON.stringify(b)}`, () => assert.equal(codeOf(() => parsePaxRecords(Buffer.from(b))), 'LAYER_INVALID'));
  }
});

const header = (name: string, type: string, size: number): Buffer => rawHeader({ name, type, size });

async function guard(data: Buffer, chunk = 100): Promise<{ out: Buffer; g: TarGuard; seen: number }> {
  let seen = 0;
  const g = new TarGuard((c) => { seen += c.length; });
  const parts: Buffer[] = [];
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) chunks.push(data.subarray(i, i + chunk));
  await pipeline(Readable.from(chunks), g, new Writable({ write(c: Buffer, _e, cb) { parts.push(c); cb(); } }));
  return { out: Buffer.concat(parts), g, seen };
}

describe('tar-safety: TarGuard', () => {
  const pad = (n: number) => Buffer.alloc(Math.ceil(n / 512) * 512);
  it('passes a tar through unchanged and records entry offsets and sizes', async () => {
    const tar = Buffer.concat([header('a', '0', 700), pad(700), header('d/', '5', 0), Buffer.alloc(1024)]);
    const { out, g, seen } = await guard(tar);
    assert.deepEqual(out, tar);
    assert.equal(seen, tar.length);
    assert.equal(g.entries.get(512)?.size, 700);
    assert.equal(g.entries.get(512 + 512 + 1024)?.size, 0);
  });
  it('stops forwarding after the end-of-archive blocks but still counts the bytes', async () => {
    const tar = Buffer.concat([header('a', '0', 0), Buffer.alloc(1024), Buffer.from('trailing junk')]);
    const { out, seen } = await guard(tar, 7);
    assert.equal(out.length, 512 + 1024);
    assert.equal(seen, tar.length);
  });
  it('completes an unpadded last entry and missing end-of-archive blocks (Go archive/tar reads them)', async () => {
    const tar = Buffer.concat([header('a', '0', 700), Buffer.alloc(700, 1)]);
    const { out, g, seen } = await guard(tar);
    assert.equal(seen, tar.length, 'the diff_id covers the original bytes only');
    assert.equal(out.length, 512 + 1024 + 1024);
    assert.deepEqual(out.subarray(0, tar.length), tar);
    assert.ok(out.subarray(tar.length).every((b) => b === 0));
    assert.equal(g.entries.get(512)?.size, 700);
  });
  it('makes a type-0 entry whose ustar name ends in "/" a file when its PAX path says so', async () => {
    const rec = '21 path=dir/file.txt\n';
    const pax = Buffer.concat([header('PaxHeader', 'x', rec.length), Buffer.from(rec.padEnd(512, '\0'))]);
    const tar = Buffer.concat([pax, header('dir/', '0', 3), Buffer.from('abc'.padEnd(512, '\0')), Buffer.alloc(1024)]);
    const { out, g } = await guard(tar);
    assert.equal(out[1024 + 156], 0x37, 'rewritten so tar-stream reads a file');
    assert.equal(g.entries.get(1536)?.size, 3);
    assert.equal(g.entries.get(1536)?.pax.get('path')?.toString(), 'dir/file.txt');
  });
  it('refuses a stream that ends inside a file\'s data even without padding', async () => {
    await assert.rejects(guard(Buffer.concat([header('a', '0', 700), Buffer.alloc(699, 1)])), /in the middle of an entry/);
  });
  const refused: Array<[string, Buffer, RegExp]> = [
    ['a PAX header over 1 MiB', Buffer.concat([header('PaxHeader', 'x', 2 * 1024 * 1024)]), /PAX header of 2097152 bytes/],
    ['a GNU long name over 1 MiB', header('././@LongLink', 'L', 5 * 1024 * 1024), /long-name header/],
    ['a directory carrying data', Buffer.concat([header('d', '5', 10), pad(10)]), /directory entry carrying 10 bytes/],
    ['a symlink carrying data', Buffer.concat([header('l', '2', 10), pad(10)]), /carrying 10 bytes/],
    ['a GNU sparse map beyond the real size', (() => { const h = header('s', 'S', 0); h.write('00000001000\0', 386, 'latin1'); h.write('00000000000\0', 398, 'latin1'); h.write('00000000010\0', 483, 'latin1'); return fixChecksum(h); })(), /sparse file whose map/],
    ['an unknown entry type', Buffer.concat([header('v', 'V', 0)]), /unsupported entry \(volume label\)/],
    ['an entry after one zero block', Buffer.concat([Buffer.alloc(512), header('a', '0', 0)]), /after an end-of-archive block/],
    ['a global PAX path', Buffer.concat([header('g', 'g', 512), Buffer.from('11 path=ab\n'.padEnd(512, '\0'))]), /global PAX header setting "path"/],
  ];
  for (const [what, data, re] of refused) {
    it(`refuses ${what}`, async () => {
      await assert.rejects(guard(data), (e: unknown) => isAtomicError(e) && e.code === 'LAYER_INVALID' && re.test(e.message));
    });
  }
});
