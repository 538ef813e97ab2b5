import assert from 'node:assert/strict';
import { checkSymlinkTarget, normalizeEntryPath, parsePaxRecords } from '../../../src/store/tar-safety.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { code as codeOf } from '../../helpers/error-code.js';

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
      assert.equal(
        codeOf(() => normalizeEntryPath(name)),
        code,
      );
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
    it(`${JSON.stringify(target.slice(0, 20))} -> ${code}`, () =>
      assert.equal(
        codeOf(() => checkSymlinkTarget('link', target)),
        code,
      ));
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
    it(`refuses malformed record ${JSON.stringify(b)}`, () =>
      assert.equal(
        codeOf(() => parsePaxRecords(Buffer.from(b))),
        'LAYER_INVALID',
      ));
  }
});
