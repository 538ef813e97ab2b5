import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OstreeRepo } from '../../../src/store/repo.js';
import type { Checksum, Commit, Metadata } from '../../../src/store/types.js';
import { makeTempDir } from '../../helpers/fixtures.js';
import { checkoutInfo, extractInputTree, importDir, loadVectors, ostree } from './vector-helpers.js';

const binding = (ref: string): Metadata => [['ostree.ref-binding', { type: 'as', value: [ref] }]];

function walkFiles(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const n of fs.readdirSync(path.join(root, rel))) {
    const r = rel ? `${rel}/${n}` : n;
    if (fs.lstatSync(path.join(root, r)).isDirectory()) out.push(...walkFiles(root, r));
    else out.push(r);
  }
  return out;
}

describe('store/transaction (writing the vector commits, checked by the real ostree CLI)', function () {
  this.timeout(120_000);
  const v = loadVectors();
  let tmp: string;
  let tree: string;
  let overlay: string;
  let tiny: string;

  before(() => {
    tmp = makeTempDir('atomic-write-');
    tree = extractInputTree();
    overlay = path.join(tmp, 'overlay');
    fs.mkdirSync(overlay);
    fs.writeFileSync(path.join(overlay, 'second.txt'), 'second\n');
    fs.chmodSync(path.join(overlay, 'second.txt'), 0o644);
    tiny = path.join(tmp, 'tiny');
    fs.mkdirSync(path.join(tiny, 'onlydir'), { recursive: true });
    fs.chmodSync(tiny, 0o755);
    fs.chmodSync(path.join(tiny, 'onlydir'), 0o755);
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.rmSync(tree, { recursive: true, force: true });
  });

  for (const mode of ['bare', 'bare-user'] as const) {
    describe(mode, () => {
      const vr = v.repos[mode]!;
      let repo: OstreeRepo;
      const made: Record<string, Checksum> = {};

      async function commitTree(ref: string, dir: string, owner: { uid: number; gid: number } | undefined, fields: Omit<Commit, 'rootTree' | 'rootMeta'>, detached?: Metadata, extra?: Record<string, string>): Promise<Checksum> {
        const tx = await repo.beginTransaction();
        try {
          const root = await importDir(tx, dir, owner, extra);
          const c = await tx.writeCommit({ ...fields, rootTree: root.tree, rootMeta: root.meta }, detached);
          tx.setRef(ref, c);
          await tx.commit();
          return c;
        } catch (e) {
          await tx.abort();
          throw e;
        }
      }

      it('creates a repo like `ostree init`', async () => {
        const p = path.join(tmp, `repo-${mode}`);
        repo = await OstreeRepo.openOrCreate(p, mode);
        assert.equal(fs.readFileSync(path.join(p, 'config'), 'utf8'), vr.config);
        const ref = path.join(tmp, `init-${mode}`);
        ostree(['init', `--repo=${ref}`, `--mode=${mode}`]);
        const layout = (root: string) => walkDirs(root).sort();
        assert.deepEqual(layout(p), layout(ref));
        assert.equal((await OstreeRepo.openOrCreate(p, mode === 'bare' ? 'bare-user' : 'bare')).mode, mode, 'an existing repo keeps its mode');
      });

      it('reproduces the exact commit checksums of vec/main (2 commits), vec/uid1000, vec/fromtar, vec/tiny', async () => {
        const root0 = { uid: 0, gid: 0 };
        made.main1 = await commitTree('vec/main', tree, root0, {
          metadata: [['version', { type: 's', value: '1.0' }], ...binding('vec/main')], parent: null, related: [],
          subject: 'vector commit 1', body: 'fixed body', timestamp: 1600000000,
        }, [['detached-key', { type: 's', value: 'detached-value' }]]);
        assert.equal(made.main1, 'bfa51ef6ac13b52462f4bd90d8546e2f8c7da0a78a590f320be2df7c998b1097');
        made.main2 = await commitTree('vec/main', tree, root0, {
          metadata: [['version', { type: 's', value: '2.0' }], ...binding('vec/main')], parent: made.main1, related: [],
          subject: 'vector commit 2', body: '', timestamp: 1600000100,
        }, undefined, { 'second.txt': path.join(overlay, 'second.txt') });
        made.uid1000 = await commitTree('vec/uid1000', tree, { uid: 1000, gid: 1000 }, { metadata: [], parent: null, related: [], subject: 'uid 1000', body: '', timestamp: 1600000000 });
        made.fromtar = await commitTree('vec/fromtar', tree, undefined, { metadata: [], parent: null, related: [], subject: 'from tar', body: '', timestamp: 1600000000 });
        made.tiny = await commitTree('vec/tiny', tiny, root0, { metadata: [], parent: null, related: [], subject: '', body: '', timestamp: 1600000000 });
        const want = Object.fromEntries(Object.entries(vr.refs).map(([k, c]) => [k, c]));
        for (const [k, c] of Object.entries(want)) assert.equal(fs.readFileSync(path.join(repo.path, k), 'utf8'), c, k);
        assert.equal(made.main2, want['refs/heads/vec/main']!.trim());
      });

      it('writes exactly the object files ostree wrote, with the same on-disk owner/mode', () => {
        assert.deepEqual(walkFiles(repo.path, 'objects').sort(), [...vr.object_files].sort());
        for (const [sum, o] of Object.entries(vr.objects)) {
          if (o.type !== 'file') continue;
          const st = fs.lstatSync(repo.objectPath(sum as Checksum, 'file'));
          assert.equal('0o' + st.mode.toString(8), o.on_disk_mode, `mode of ${sum}`);
          assert.equal(st.uid, o.on_disk_uid);
          assert.equal(st.gid, o.on_disk_gid);
          assert.equal(Math.trunc(st.mtimeMs / 1000) === 0, o.mtime_is_zero, `mtime of ${sum}`);
        }
        for (const f of vr.object_files.filter((x) => !x.endsWith('.file'))) {
          assert.equal(fs.statSync(path.join(repo.path, f)).mode & 0o7777, 0o644, f);
        }
        assert.deepEqual(fs.readdirSync(path.join(repo.path, 'tmp')).filter((n) => n.startsWith('staging-')), []);
      });

      it('passes `ostree fsck` and `ostree ls -R` matches the vectors', () => {
        const out = ostree(['fsck', `--repo=${repo.path}`]);
        assert.match(out, /fsck of 5 commits completed successfully - no errors found/);
        for (const ref of ['vec/main', 'vec/uid1000']) {
          assert.deepEqual(ostree(['ls', `--repo=${repo.path}`, '-R', '-C', '-X', ref]).split('\n').filter(Boolean), vr.ostree_ls[ref], ref);
        }
        assert.match(ostree(['show', `--repo=${repo.path}`, 'vec/main']), /vector commit 2/);
      });

      it(`\`ostree checkout ${mode === 'bare' ? '-H' : '-U'}\` gives the same tree as the vectors`, () => {
        const co = path.join(tmp, `co-${mode}`);
        ostree(['checkout', `--repo=${repo.path}`, mode === 'bare' ? '-H' : '-U', 'vec/main', co]);
        const got = checkoutInfo(co);
        const want = v.checkouts[mode === 'bare' ? 'bare-H' : 'bare-user-U']!;
        assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
        for (const [p, w] of Object.entries(want)) {
          const g = got[p]!;
          assert.deepEqual([g.mode, g.uid, g.gid, g.mtime_is_zero, g.same_inode_as], [w.mode, w.uid, w.gid, w.mtime_is_zero, [...w.same_inode_as].sort()], p);
        }
        assert.equal(fs.readFileSync(path.join(co, 'a/hello.txt'), 'utf8'), 'hello world\n');
        assert.equal(fs.readlinkSync(path.join(co, 'a/link-abs')), '/etc/os-release');
      });

      it('skips every object that already exists when the same tree is written again', async () => {
        const tx = await repo.beginTransaction();
        const root = await importDir(tx, tree, { uid: 0, gid: 0 });
        assert.equal(tx.stats.objectsWritten, 0);
        assert.ok(tx.stats.objectsSkipped >= 25, `${tx.stats.objectsSkipped} skipped`);
        assert.equal(root.tree, v.repos[mode]!.commits[made.main1!]!.root_dirtree);
        await tx.abort();
        await assert.rejects(tx.writeDirTree({ files: [], dirs: [] }), (e: { code?: string }) => e.code === 'INTERNAL');
      });

      it('streams a large file through a temp file and rejects a size mismatch', async () => {
        const tx = await repo.beginTransaction();
        const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0x5a);
        const big2 = path.join(tmp, `big-${mode}`);
        fs.writeFileSync(big2, big);
        const meta = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };
        const c = await tx.writeRegularFile(meta, fs.createReadStream(big2), big.length);
        await assert.rejects(tx.writeRegularFile(meta, fs.createReadStream(big2), big.length + 1), (e: { code?: string }) => e.code === 'LAYER_INVALID');
        await assert.rejects(tx.writeRegularFile(meta, Buffer.from('abc'), 4), (e: { code?: string }) => e.code === 'LAYER_INVALID');
        await tx.commit();
        const fo = await repo.readFileMeta(c);
        assert.equal(fo.size, big.length);
        assert.deepEqual(await repo.verifyCommit(made.main2!), []);
        assert.ok(fs.readFileSync(fo.path).equals(big));
      });
    });
  }
});

function walkDirs(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const ent of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.name === '.lock' || ent.name === '.atomic-lock.d') continue;
    out.push(`${r}${ent.isDirectory() ? '/' : ''}`);
    if (ent.isDirectory()) out.push(...walkDirs(root, r));
  }
  return out;
}
