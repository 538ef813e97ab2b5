/**
 * Union rules of checkoutLayers (docs/store-format.md): explicit vs implicit directories, paths
 * through lower-layer symlinks (kept inside the rootfs), hardlinks to lower layers, and the
 * fallback for layer commits written before the explicit-directory record existed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { OstreeRepo } from '../../../src/store/repo.js';
import { importLayerTar } from '../../../src/store/layer-import.js';
import { checkoutLayers } from '../../../src/store/checkout.js';
import type { Checksum } from '../../../src/store/types.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { makeTempDir } from '../../helpers/fixtures.js';
import { tarOf, type TarHeader } from '../../helpers/tar.js';

const st = (p: string) => {
  const s = fs.lstatSync(p);
  return `${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid}`;
};

describe('union semantics of checkoutLayers', function () {
  this.timeout(60_000);
  let tmp: string;
  let repo: OstreeRepo;
  let n = 0;
  before(async () => {
    tmp = makeTempDir('atomic-union-');
    repo = await OstreeRepo.openOrCreate(path.join(tmp, 'repo'), 'bare');
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  async function layer(entries: Array<[TarHeader, string?]>, opts: { legacy?: boolean } = {}): Promise<Checksum> {
    const tx = await repo.beginTransaction();
    const res = await importLayerTar(tx, Readable.from([await tarOf(entries)]));
    const c = await tx.writeCommit({ metadata: opts.legacy ? [] : res.unionMetadata, parent: null, related: [], subject: '', body: '', timestamp: 0, rootTree: res.rootTree, rootMeta: res.rootMeta });
    tx.setRef(`test/u${n++}`, c);
    await tx.commit();
    return c;
  }
  const dest = () => path.join(tmp, `co${n++}`);

  const base: Array<[TarHeader, string?]> = [
    [{ name: './', type: 'directory', mode: 0o755 }],
    [{ name: 'usr/', type: 'directory' }],
    [{ name: 'usr/bin/', type: 'directory' }],
    [{ name: 'usr/bin/sh', mode: 0o755 }, 'sh'],
    [{ name: 'bin', type: 'symlink', linkname: 'usr/bin' }],
    [{ name: 'escape', type: 'symlink', linkname: '../../../../../tmp' }],
    [{ name: 'abs', type: 'symlink', linkname: '/usr' }],
    [{ name: 'var/', type: 'directory', mode: 0o755 }],
    [{ name: 'var/lib/', type: 'directory', mode: 0o755 }],
    [{ name: 'var/lib/app/', type: 'directory', mode: 0o755 }],
    [{ name: 'tmp/', type: 'directory', mode: 0o1777 }],
  ];

  it('explicit directories replace metadata, implicit parents change nothing and go through lower symlinks inside the root', async () => {
    const l0 = await layer(base);
    const l1 = await layer([
      [{ name: 'var/', type: 'directory', mode: 0o700 }],
      [{ name: 'var/lib/app/', type: 'directory', mode: 0o750, uid: 1000, gid: 1000 }],
      [{ name: 'bin/hello', mode: 0o755, uid: 1000, gid: 1000 }, 'hello'],
      [{ name: 'escape/inside', uid: 5, gid: 5 }, 'stays in the rootfs'],
      [{ name: 'abs/share/x' }, 'through an absolute symlink'],
      [{ name: 'new/a/b/f', uid: 1000, gid: 1000 }, 'f'],
    ]);
    const d = dest();
    await checkoutLayers(repo, [l0, l1], d);
    assert.equal(st(d), '755 0:0', 'the root never gets an entry\'s owner');
    assert.equal(st(`${d}/var`), '700 0:0');
    assert.equal(st(`${d}/var/lib`), '755 0:0', 'implicit: unchanged');
    assert.equal(st(`${d}/var/lib/app`), '750 1000:1000');
    assert.equal(fs.readlinkSync(`${d}/bin`), 'usr/bin', 'the symlink stays');
    assert.equal(fs.readFileSync(`${d}/usr/bin/hello`, 'utf8'), 'hello');
    assert.equal(fs.readFileSync(`${d}/usr/bin/sh`, 'utf8'), 'sh', '/bin/sh is still there');
    assert.equal(fs.readFileSync(`${d}/tmp/inside`, 'utf8'), 'stays in the rootfs');
    assert.equal(st(`${d}/tmp`), '1777 0:0');
    assert.equal(fs.readFileSync(`${d}/usr/share/x`, 'utf8'), 'through an absolute symlink');
    assert.equal(st(`${d}/usr/share`), '755 0:0');
    assert.equal(st(`${d}/new`), '755 0:0');
    assert.equal(st(`${d}/new/a/b`), '755 0:0', 'missing parents are 0:0 0755');
    execFileSync('ostree', ['fsck', `--repo=${repo.path}`]);
  });

  it('an explicit directory entry replaces a lower symlink (umoci without --keep-dirlinks)', async () => {
    const l0 = await layer(base);
    const l1 = await layer([[{ name: 'bin/', type: 'directory', mode: 0o711 }], [{ name: 'bin/own' }, 'own']]);
    const d = dest();
    await checkoutLayers(repo, [l0, l1], d);
    assert.ok(fs.lstatSync(`${d}/bin`).isDirectory());
    assert.equal(st(`${d}/bin`), '711 0:0');
    assert.deepEqual(fs.readdirSync(`${d}/bin`), ['own']);
    assert.ok(fs.existsSync(`${d}/usr/bin/sh`));
  });

  it('resolves a hardlink to a lower-layer file in the union below the layer, and refuses one to nothing', async () => {
    const l0 = await layer(base);
    const l1 = await layer([[{ name: 'bin/sh-again', type: 'link', linkname: 'bin/sh' }], [{ name: 'usr/bin/sh', mode: 0o755 }, 'replaced after the link']]);
    const d = dest();
    await checkoutLayers(repo, [l0, l1], d);
    assert.equal(fs.readFileSync(`${d}/usr/bin/sh-again`, 'utf8'), 'sh', 'the link was made before the entry replaced its target');
    assert.equal(fs.readFileSync(`${d}/usr/bin/sh`, 'utf8'), 'replaced after the link');
    const bad = await layer([[{ name: 'h', type: 'link', linkname: 'nowhere' }]]);
    const d2 = dest();
    await assert.rejects(checkoutLayers(repo, [l0, bad], d2), (e: unknown) => isAtomicError(e) && e.code === 'LAYER_INVALID' && /hardlink "h" -> "nowhere".*not an earlier entry/.test(e.message));
    assert.ok(!fs.existsSync(d2), 'nothing left behind');
  });

  it('layer commits without the record (older stores) still check out: every directory implicit, symlinks followed', async () => {
    const l0 = await layer(base, { legacy: true });
    const l1 = await layer([
      [{ name: 'var/', type: 'directory', mode: 0o700 }],
      [{ name: 'bin/hello' }, 'hello'],
      [{ name: 'fresh/', type: 'directory', mode: 0o750 }],
    ], { legacy: true });
    const d = dest();
    await checkoutLayers(repo, [l0, l1], d);
    assert.equal(st(`${d}/var`), '755 0:0', 'the lowest layer that made the directory gives its metadata');
    assert.equal(fs.readlinkSync(`${d}/bin`), 'usr/bin');
    assert.deepEqual(fs.readdirSync(`${d}/usr/bin`).sort(), ['hello', 'sh']);
    assert.equal(st(`${d}/fresh`), '750 0:0', 'a directory the layer creates takes its dirmeta');
    execFileSync('ostree', ['fsck', `--repo=${repo.path}`]);
  });
});
