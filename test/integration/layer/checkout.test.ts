import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { OstreeRepo } from '../../../src/store/repo.js';
import { importLayerTar } from '../../../src/store/layer-import.js';
import { checkoutLayers } from '../../../src/store/checkout.js';
import type { Checksum } from '../../../src/store/types.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { tarOf } from '../../helpers/tar.js';

/** The golden format of make-images.sh: `TYPE MODE UID:GID SIZE PATH [-> TARGET]`, `sort -k5` under LC_ALL=C. */
function listing(root: string): string {
  const lines: string[] = [];
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir)) {
      const p = path.join(dir, name);
      const st = fs.lstatSync(p);
      const rel = '/' + path.relative(root, p);
      const head = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) lines.push(`l ${head} - ${rel} -> ${fs.readlinkSync(p)}`);
      else if (st.isDirectory()) {
        lines.push(`d ${head} - ${rel}`);
        walk(p);
      } else lines.push(`f ${head} ${st.size} ${rel}`);
    }
  };
  walk(root);
  const key = (l: string) => Buffer.from(l.split(' ').slice(4).join(' '));
  return lines.sort((a, b) => Buffer.compare(key(a), key(b))).map((l) => `${l}\n`).join('');
}

describe('checkoutLayers', function () {
  this.timeout(60_000);
  let tmp: string;
  let repo: OstreeRepo;
  let n = 0;

  before(async () => {
    tmp = makeTempDir('atomic-checkout-');
    repo = await OstreeRepo.openOrCreate(path.join(tmp, 'repo'), 'bare');
  });
  after(() => {
    for (const d of fs.readdirSync(tmp)) fs.rmSync(path.join(tmp, d), { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function importLayer(r: OstreeRepo, input: NodeJS.ReadableStream): Promise<Checksum> {
    const tx = await r.beginTransaction();
    const res = await importLayerTar(tx, input);
    const c = await tx.writeCommit({ metadata: [], parent: null, related: [], subject: '', body: '', timestamp: 0, rootTree: res.rootTree, rootMeta: res.rootMeta });
    tx.setRef(`test/l${n++}`, c);
    await tx.commit();
    return c;
  }

  async function importImage(r: OstreeRepo, tag: string): Promise<Checksum[]> {
    const fx = fixtureImages();
    const idx = JSON.parse(fs.readFileSync(path.join(fx, 'oci/index.json'), 'utf8'));
    const m = idx.manifests.find((x: { annotations: Record<string, string> }) => x.annotations['org.opencontainers.image.ref.name'] === tag);
    const man = JSON.parse(fs.readFileSync(path.join(fx, 'oci/blobs/sha256', m.digest.slice(7)), 'utf8'));
    const out: Checksum[] = [];
    for (const l of man.layers) out.push(await importLayer(r, fs.createReadStream(path.join(fx, 'oci/blobs/sha256', l.digest.slice(7)))));
    return out;
  }

  for (const tag of ['layered', 'base', 'systest']) {
    it(`reproduces umoci's rootfs of "${tag}" exactly, with files hardlinked to the repo objects`, async () => {
      const commits = await importImage(repo, tag);
      const dest = path.join(tmp, `co-${tag}`, 'rootfs');
      const counts = await checkoutLayers(repo, commits, dest);
      const want = fs.readFileSync(path.join(fixtureImages(), 'expected', `${tag}.rootfs.txt`), 'utf8');
      assert.equal(listing(dest), want);
      assert.equal(counts.symlinks, want.split('\n').filter((l) => l.startsWith('l ')).length);
      assert.equal(counts.files, want.split('\n').filter((l) => l.startsWith('f ')).length);
      assert.equal(counts.dirs, want.split('\n').filter((l) => l.startsWith('d ')).length);
      // Regular files share the inode of their object.
      const objects = new Set<number>();
      for (const f of fs.readdirSync(path.join(repo.path, 'objects'), { recursive: true }) as string[]) {
        if (f.endsWith('.file')) objects.add(fs.lstatSync(path.join(repo.path, 'objects', f)).ino);
      }
      const busybox = fs.lstatSync(path.join(dest, 'bin/busybox'));
      assert.ok(objects.has(busybox.ino) && busybox.nlink >= 2, 'bin/busybox is a hardlink to its object');
      for (const line of want.split('\n').filter((l) => l.startsWith('f '))) {
        const p = line.split(' ')[4];
        assert.ok(objects.has(fs.lstatSync(path.join(dest, p)).ino), `${p} is a hardlink to a repo object`);
      }
    });
  }

  it('applies whiteouts, opaque dirs and type changes between layers; fills a 0555 dir; sets owners', async () => {
    const l1 = await tarOf([
      [{ name: 'keep', mode: 0o644 }, 'k'],
      [{ name: 'gone', mode: 0o644 }, 'g'],
      [{ name: 'dir2file/', type: 'directory', mode: 0o755 }],
      [{ name: 'dir2file/inner', mode: 0o644 }, 'i'],
      [{ name: 'file2dir', mode: 0o644 }, 'f'],
      [{ name: 'opq/', type: 'directory', mode: 0o755 }],
      [{ name: 'opq/old', mode: 0o644 }, 'o'],
      [{ name: 'gonedir/', type: 'directory', mode: 0o755 }],
      [{ name: 'gonedir/x', mode: 0o644 }, 'x'],
      [{ name: 'ro/', type: 'directory', mode: 0o555, uid: 7, gid: 8 }],
      [{ name: 'ro/file', mode: 0o600, uid: 7, gid: 8 }, 'r'],
    ]);
    const l2 = await tarOf([
      [{ name: '.wh.gone', mode: 0o644 }],
      [{ name: '.wh.gonedir', mode: 0o644 }],
      [{ name: '.wh.never-existed', mode: 0o644 }],
      [{ name: 'dir2file', mode: 0o644 }, 'now a file'],
      [{ name: 'file2dir/', type: 'directory', mode: 0o700 }],
      [{ name: 'file2dir/new', mode: 0o644 }, 'n'],
      [{ name: 'opq/', type: 'directory', mode: 0o755 }],
      [{ name: 'opq/.wh..wh..opq', mode: 0o644 }],
      [{ name: 'opq/new', mode: 0o644 }, 'n'],
      [{ name: '.wh..wh.plnk/', type: 'directory', mode: 0o700 }],
    ]);
    const commits = [await importLayer(repo, Readable.from([l1])), await importLayer(repo, Readable.from([l2]))];
    const dest = path.join(tmp, 'co-union');
    await checkoutLayers(repo, commits, dest);
    assert.equal(listing(dest), [
      'f 644 0:0 10 /dir2file',
      'd 700 0:0 - /file2dir',
      'f 644 0:0 1 /file2dir/new',
      'f 644 0:0 1 /keep',
      'd 755 0:0 - /opq',
      'f 644 0:0 1 /opq/new',
      'd 555 7:8 - /ro',
      'f 600 7:8 1 /ro/file',
      '',
    ].join('\n'));
  });

  it('checks out a bare-user repository in user mode, with real symlinks', async () => {
    const r2 = await OstreeRepo.openOrCreate(path.join(tmp, 'repo-bu'), 'bare-user');
    const commits = await importImage(r2, 'base');
    const dest = path.join(tmp, 'co-bu');
    const counts = await checkoutLayers(r2, commits, dest, { userMode: true });
    assert.equal(fs.readlinkSync(path.join(dest, 'bin/sh')), 'busybox');
    assert.ok(counts.symlinks > 0);
    assert.equal(fs.statSync(path.join(dest, 'tmp')).mode & 0o7777, 0o1777);
  });

  it('refuses a non-empty destination and leaves it alone; accepts an empty one', async () => {
    const commits = await importImage(repo, 'base');
    const dest = path.join(tmp, 'nonempty');
    fs.mkdirSync(dest);
    fs.writeFileSync(path.join(dest, 'precious'), 'data');
    await assert.rejects(checkoutLayers(repo, commits, dest), (e: unknown) => isAtomicError(e) && e.code === 'CHECKOUT_FAILED' && /not empty/.test(e.message) && e.message.includes(dest));
    assert.deepEqual(fs.readdirSync(dest), ['precious']);
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    await checkoutLayers(repo, commits, empty);
    assert.ok(fs.existsSync(path.join(empty, 'bin/busybox')));
  });

  it('refuses a destination on another filesystem (tmpfs /dev/shm) with STORE_CROSS_DEVICE', async () => {
    assert.notEqual(fs.statSync('/dev/shm').dev, fs.statSync(repo.path).dev, 'test precondition: /dev/shm is another filesystem');
    const commits = await importImage(repo, 'base');
    const dest = path.join('/dev/shm', `atomic-xdev-${process.pid}`, 'rootfs');
    await assert.rejects(checkoutLayers(repo, commits, dest), (e: unknown) => isAtomicError(e) && e.code === 'STORE_CROSS_DEVICE' && e.suggestions.some((s) => s.includes('ATOMIC_OSTREE_CHECKOUT_PATH')));
    assert.equal(fs.existsSync(path.dirname(dest)), false, 'nothing created');
  });

  it('removes the partial checkout when an object is missing', async () => {
    const r3 = await OstreeRepo.openOrCreate(path.join(tmp, 'repo-broken'), 'bare');
    const commits = await importImage(r3, 'base');
    const objs = (fs.readdirSync(path.join(r3.path, 'objects'), { recursive: true }) as string[]).filter((f) => f.endsWith('.file'));
    const victim = objs.map((f) => path.join(r3.path, 'objects', f)).find((p) => fs.lstatSync(p).size === 1982256)!;
    fs.rmSync(victim);
    const dest = path.join(tmp, 'co-broken', 'rootfs');
    await assert.rejects(checkoutLayers(r3, commits, dest), (e: unknown) => isAtomicError(e));
    assert.equal(fs.existsSync(dest), false);
  });
});
