import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TarIndex, normalizeTarName } from '../../../src/image/tar-index.js';
import { readStreamAtMost } from '../../../src/util/bounded-read.js';
import { codeOf } from '../../helpers/error-code.js';
import { makeTempDir } from '../../helpers/fixtures.js';
import { TAR_END, paxBody, padded, rawHeader } from '../../helpers/tar.js';

const header = rawHeader;
const data = padded;
const pax = paxBody;
const END = TAR_END;

describe('image/tar-index', () => {
  let dir: string;
  const write = (name: string, parts: Buffer[]): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, Buffer.concat(parts));
    return p;
  };
  before(() => (dir = makeTempDir('atomic-tarindex-')));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('normalizes names', () => {
    assert.equal(normalizeTarName('./a//b/./c/'), 'a/b/c');
    assert.equal(normalizeTarName('/abs/x'), 'abs/x');
  });

  for (const format of ['gnu', 'pax', 'ustar']) {
    it(`indexes GNU tar --format=${format} archives with long names and reads entries by offset`, async () => {
      const src = path.join(dir, `src-${format}`);
      const deep = path.join(src, 'd'.repeat(60), 'e'.repeat(60));
      fs.mkdirSync(deep, { recursive: true });
      const longFile = format === 'ustar' ? 'f'.repeat(90) : 'f'.repeat(150);
      fs.writeFileSync(path.join(deep, longFile), 'hello long name');
      fs.writeFileSync(path.join(src, 'small'), Buffer.alloc(1000, 7));
      if (format !== 'ustar') fs.symlinkSync('./'.repeat(60) + 'small', path.join(src, 'longlink'));
      const tar = path.join(dir, `t-${format}.tar`);
      execFileSync('tar', ['-C', src, `--format=${format}`, '-cf', tar, '.']);
      const idx = await TarIndex.open(tar);
      const rel = `${'d'.repeat(60)}/${'e'.repeat(60)}/${longFile}`;
      const e = idx.entries.get(rel);
      assert.ok(e, `missing ${rel}; have ${[...idx.entries.keys()].join(',')}`);
      assert.equal(e.type, 'file');
      assert.equal(e.size, 15);
      assert.equal((await readStreamAtMost(idx.openEntry(e), 100, 'x')).toString(), 'hello long name');
      assert.equal(idx.entries.get('d'.repeat(60))?.type, 'dir');
      const small = idx.requireFile('small', 'small');
      assert.deepEqual(await readStreamAtMost(idx.openEntry(small), 2000, 'x'), Buffer.alloc(1000, 7));
      if (format !== 'ustar') {
        const l = idx.entries.get('longlink')!;
        assert.equal(l.type, 'symlink');
        assert.ok(l.linkname.length > 100);
        assert.equal(idx.resolve('longlink'), small);
      }
    });
  }

  it('GNU L/K and PAX x/g headers built by hand; base-256 size; no end blocks', async () => {
    const longName = 'dir/' + 'n'.repeat(200);
    const p = write('hand.tar', [
      header({ name: 'pax_global_header', type: 'g', size: pax({ comment: 'hi' }).length }), data(pax({ comment: 'hi' })),
      header({ name: '././@LongLink', type: 'L', size: longName.length + 1 }), data(longName + '\0'),
      header({ name: 'truncated-name', size: 3 }), data('abc'),
      header({ name: '././@LongLink', type: 'K', size: 201 }), data('t'.repeat(200) + '\0'),
      header({ name: 'sym', type: '2', linkname: 'short' }),
      header({ name: 'PaxHeaders/x', type: 'x', size: pax({ path: 'pax/path/file', size: '4' }).length }), data(pax({ path: 'pax/path/file', size: '4' })),
      header({ name: 'ignored', size: 0 }), data('wxyz'),
      header({ name: 'file', prefix: 'pre/fix' }),
      header({ name: 'b256', size: 5, base256: true }), data('12345'),
    ]);
    const idx = await TarIndex.open(p);
    assert.equal(idx.entries.get(longName)?.size, 3);
    assert.equal(idx.entries.has('truncated-name'), false);
    assert.equal(idx.entries.get('sym')?.linkname, 't'.repeat(200));
    const px = idx.entries.get('pax/path/file')!;
    assert.equal(px.size, 4);
    assert.equal((await readStreamAtMost(idx.openEntry(px), 10, 'x')).toString(), 'wxyz');
    assert.equal(idx.entries.has('ignored'), false);
    assert.ok(idx.entries.has('pre/fix/file'));
    assert.equal((await readStreamAtMost(idx.openEntry(idx.entries.get('b256')!), 10, 'x')).toString(), '12345');
    assert.equal(idx.entries.has('pax_global_header'), false);
  });

  it('reads an archive whose last entry is unpadded (umoci), V7 headers, absolute names and type-\\0 directories by name', async () => {
    const v7 = header({ name: '/abs/v7file', size: 2 });
    v7.fill(0, 257, 265); // no ustar magic
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : v7[i]!;
    v7.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    const p = write('lenient.tar', [v7, data('ok'), header({ name: 'd/', type: '\0' }), header({ name: 'last', size: 5 }), Buffer.from('12345')]);
    const idx = await TarIndex.open(p);
    assert.equal(idx.entries.get('abs/v7file')?.size, 2);
    assert.equal(idx.entries.get('d')?.type, 'dir');
    assert.equal((await readStreamAtMost(idx.openEntry(idx.entries.get('last')!), 10, 'x')).toString(), '12345');
  });

  it('resolves legacy docker save layer.tar symlinks and symlinked directories', async () => {
    const p = write('docker.tar', [
      header({ name: 'abc.tar', size: 4 }), data('LAYR'),
      header({ name: 'id1/', type: '5' }),
      header({ name: 'id1/layer.tar', type: '2', linkname: '../abc.tar' }),
      header({ name: 'real/', type: '5' }),
      header({ name: 'real/f', size: 1 }), data('F'),
      header({ name: 'alias', type: '2', linkname: 'real' }),
      header({ name: 'chain1', type: '2', linkname: 'chain2' }),
      header({ name: 'chain2', type: '2', linkname: './id1/layer.tar' }),
      header({ name: 'hard', type: '1', linkname: 'abc.tar' }),
      END,
    ]);
    const idx = await TarIndex.open(p);
    const target = idx.entries.get('abc.tar')!;
    assert.equal(idx.resolve('id1/layer.tar'), target);
    assert.equal(idx.resolve('./id1//layer.tar'), target);
    assert.equal(idx.resolve('chain1'), target);
    assert.equal(idx.resolve('hard'), target);
    assert.equal(idx.resolve('alias/f'), idx.entries.get('real/f'));
    assert.equal(idx.resolve('missing'), null);
    assert.equal(idx.resolve('abc.tar/x'), null);
    assert.equal((await readStreamAtMost(idx.openEntry(idx.requireFile('id1/layer.tar', 'layer')), 10, 'x')).toString(), 'LAYR');
    assert.equal(await codeOf(() => idx.requireFile('nope', 'layer')), 'IMAGE_NOT_FOUND');
    assert.equal(await codeOf(() => idx.requireFile('real', 'layer')), 'IMAGE_INVALID');
  });

  it('refuses links that escape the archive, loops and long chains', async () => {
    const chain: Buffer[] = [];
    for (let i = 0; i < 45; i++) chain.push(header({ name: `c${i}`, type: '2', linkname: `c${i + 1}` }));
    chain.push(header({ name: 'c45', size: 0 }));
    const p = write('hostile.tar', [
      header({ name: 'id/layer.tar', type: '2', linkname: '../../etc/passwd' }),
      header({ name: 'abs', type: '2', linkname: '/etc/passwd' }),
      header({ name: 'loop1', type: '2', linkname: 'loop2' }),
      header({ name: 'loop2', type: '2', linkname: 'loop1' }),
      header({ name: 'dotdot', type: '2', linkname: '..' }),
      header({ name: 'hardesc', type: '1', linkname: '../x' }),
      ...chain,
      END,
    ]);
    const idx = await TarIndex.open(p);
    for (const n of ['id/layer.tar', 'abs', 'loop1', 'dotdot/x', 'hardesc', 'c0', '../x']) {
      assert.equal(await codeOf(() => idx.resolve(n)), 'UNSAFE_PATH', n);
    }
    assert.equal(await codeOf(() => idx.resolve('c10')), 'OK');
  });

  it('refuses corrupt archives', async () => {
    const trunc = write('trunc.tar', [header({ name: 'big', size: 5000 }), data('short')]);
    assert.equal(await codeOf(() => TarIndex.open(trunc)), 'IMAGE_INVALID');
    const halfHeader = write('half.tar', [header({ name: 'a', size: 1 }), data('x'), Buffer.alloc(100, 1)]);
    assert.equal(await codeOf(() => TarIndex.open(halfHeader)), 'IMAGE_INVALID');
    const sum = write('sum.tar', [header({ name: 'a', size: 1, badSum: true }), data('x')]);
    assert.equal(await codeOf(() => TarIndex.open(sum)), 'IMAGE_INVALID');
    const badPax = write('pax.tar', [header({ name: 'x', type: 'x', size: 12 }), data('99 path=abc\n'), header({ name: 'a' })]);
    assert.equal(await codeOf(() => TarIndex.open(badPax)), 'IMAGE_INVALID');
    const hugePax = write('hugepax.tar', [header({ name: 'x', type: 'x', size: 2 * 1024 * 1024 })]);
    assert.equal(await codeOf(() => TarIndex.open(hugePax)), 'IMAGE_INVALID');
    const notTar = write('not.tar', [Buffer.from('x'.repeat(1024))]);
    assert.equal(await codeOf(() => TarIndex.open(notTar)), 'IMAGE_INVALID');
  });

  it('bounded readFile', async () => {
    const p = write('big.tar', [header({ name: 'm.json', size: 3000 }), data(Buffer.alloc(3000, 0x20)), END]);
    const idx = await TarIndex.open(p);
    assert.equal((await idx.readFile('m.json', 3000, 'm.json')).length, 3000);
    assert.equal(await codeOf(() => idx.readFile('m.json', 2999, 'm.json')), 'IMAGE_TOO_LARGE');
  });
});
