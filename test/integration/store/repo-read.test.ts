import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OstreeRepo } from '../../../src/store/repo.js';
import type { Checksum } from '../../../src/store/types.js';
import { makeTempDir, VECTORS_DIR } from '../../helpers/fixtures.js';
import { extractBareRepos, listingOf, loadVectors } from './vector-helpers.js';

async function sha256OfStream(s: NodeJS.ReadableStream): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of s as AsyncIterable<Buffer>) h.update(chunk);
  return h.digest('hex');
}

describe('store/repo (reading the ostree vector repos)', function () {
  this.timeout(60_000);
  const v = loadVectors();
  let dir: string;
  const repoPath = (mode: string) => (mode === 'archive' ? path.join(VECTORS_DIR, 'repo-archive') : path.join(dir, `repo-${mode}`));

  before(() => {
    dir = extractBareRepos();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const mode of ['bare', 'bare-user', 'bare-user-only', 'archive'] as const) {
    describe(mode, () => {
      const vr = v.repos[mode]!;
      let repo: OstreeRepo;
      before(async () => {
        repo = await OstreeRepo.open(repoPath(mode));
      });

      it('detects the mode and lists/resolves refs', async () => {
        assert.equal(repo.mode, mode);
        const refs = await repo.listRefs();
        const want = new Map(Object.entries(vr.refs).map(([k, c]) => [k.replace(/^refs\/heads\//, ''), c.trim()]));
        assert.deepEqual(new Map([...refs].sort()), new Map([...want].sort()));
        assert.equal(await repo.resolveRef('vec/main'), want.get('vec/main'));
        assert.equal(await repo.resolveRef('vec/nope'), null);
        assert.deepEqual([...(await repo.listRefs('vec/t')).keys()].sort(), ['vec/tiny']);
        assert.equal((await repo.listRefs('vec/')).size, 4);
      });

      it("reads every commit's fields, detached metadata and full listing", async () => {
        for (const [sum, c] of Object.entries(vr.commits)) {
          const commit = await repo.readCommit(sum as Checksum);
          assert.equal(commit.subject, c.subject);
          assert.equal(commit.body, c.body);
          assert.equal(commit.timestamp, c.timestamp);
          assert.equal(commit.parent ?? '', c.parent);
          assert.deepEqual(commit.metadata.map(([k]) => k), c.metadata_key_order);
          for (const [k, val] of commit.metadata) assert.deepEqual([val.type, val.value], c.metadata[k]);
          const cm = await repo.readCommitMeta(sum as Checksum);
          if (c.commitmeta) assert.deepEqual(cm, [['detached-key', { type: 's', value: 'detached-value' }]]);
          else assert.equal(cm, null);
          assert.deepEqual(await listingOf(repo, sum as Checksum), c.listing, `listing of ${sum}`);
        }
      });

      it('streams every content object (sha256 of the content matches)', async () => {
        let n = 0;
        for (const [sum, o] of Object.entries(vr.objects)) {
          if (o.type !== 'file') continue;
          const fo = await repo.readFileMeta(sum as Checksum);
          assert.equal(fo.size, o.size);
          assert.equal(fo.path, repo.objectPath(sum as Checksum, 'file'));
          assert.equal(await sha256OfStream(await repo.openFileContent(sum as Checksum)), o.content_sha256, `content of ${sum}`);
          // the xattr-free stat gives the same type, size and path as the full metadata
          assert.deepEqual(await repo.readFileStat(sum as Checksum), { path: fo.path, mode: fo.meta.mode, size: fo.size }, `stat of ${sum}`);
          n++;
        }
        assert.ok(n >= (mode === 'bare-user-only' ? 10 : 18), `${n} content objects`);
      });

      it('verifyCommit finds no problem in any commit', async () => {
        for (const sum of Object.keys(vr.commits)) assert.deepEqual(await repo.verifyCommit(sum as Checksum), []);
      });
    });
  }

  it('verifyCommit reports a corrupted content object and a missing dirtree', async () => {
    const fresh = extractBareRepos(); // a private copy (xattrs and owners intact)
    try {
      const repo = await OstreeRepo.open(path.join(fresh, 'repo-bare'));
      const main = (await repo.resolveRef('vec/main'))!;
      const listing = v.repos.bare!.commits[main]!.listing;
      const victim = repo.objectPath(listing['/b/blob.bin']!.file as Checksum, 'file');
      const fd = fs.openSync(victim, 'r+');
      fs.writeSync(fd, Buffer.from([0xff]), 0, 1, 100);
      fs.closeSync(fd);
      const problems = await repo.verifyCommit(main);
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0]!, new RegExp(`^${listing['/b/blob.bin']!.file}\\.file: content checksum`));
      fs.unlinkSync(repo.objectPath(listing['/b/deep']!.dirtree as Checksum, 'dirtree'));
      const p2 = await repo.verifyCommit(main);
      assert.ok(p2.some((p) => p.includes(`${listing['/b/deep']!.dirtree}.dirtree`) && /missing/.test(p)), p2.join('\n'));
      await assert.rejects(repo.readDirTree(listing['/b/deep']!.dirtree as Checksum), (e: { code?: string; message: string }) => e.code === 'STORE_OBJECT_MISSING' && e.message.includes(listing['/b/deep']!.dirtree!));
    } finally {
      fs.rmSync(fresh, { recursive: true, force: true });
    }
  });

  it('refuses a directory that is not a repository with STORE_INVALID', async () => {
    const empty = makeTempDir('atomic-norepo-');
    try {
      await assert.rejects(OstreeRepo.open(empty), (e: { code?: string; message: string }) => e.code === 'STORE_INVALID' && e.message.includes(empty));
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('refuses to write into an archive repository', async () => {
    const repo = await OstreeRepo.open(repoPath('archive'));
    await assert.rejects(repo.beginTransaction(), (e: { code?: string }) => e.code === 'STORE_UNSUPPORTED_MODE');
  });
});
