import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OstreeRepo } from '../../../src/store/repo.js';
import type { Checksum, DirTreeFile } from '../../../src/store/types.js';
import { makeTempDir } from '../../helpers/fixtures.js';
import { ostree } from './vector-helpers.js';

const fileMeta = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };

function countObjects(repo: OstreeRepo): number {
  let n = 0;
  const objects = path.join(repo.path, 'objects');
  for (const d of fs.readdirSync(objects)) n += fs.readdirSync(path.join(objects, d)).length;
  return n;
}

describe('store/repo prune', function () {
  this.timeout(60_000);
  for (const mode of ['bare', 'bare-user'] as const) {
    it(`${mode}: deletes unreachable objects (incl. .commitmeta), keeps refs, parents and shared objects`, async () => {
      const dir = makeTempDir('atomic-prune-');
      try {
        const repo = await OstreeRepo.openOrCreate(path.join(dir, 'repo'), mode);
        const tx = await repo.beginTransaction();
        const file = async (s: string) => tx.writeRegularFile(fileMeta, Buffer.from(s), Buffer.byteLength(s));
        const dm = await tx.writeDirMeta({ uid: 0, gid: 0, mode: 0o40755, xattrs: [] });
        const tree = (files: DirTreeFile[], dirs: Array<{ name: string; tree: Checksum; meta: Checksum }> = []) => tx.writeDirTree({ files, dirs });
        const commit = (root: Checksum, parent: Checksum | null, subject: string) =>
          tx.writeCommit({ metadata: [], parent, related: [], subject, body: '', timestamp: 1600000000, rootTree: root, rootMeta: dm }, [['k', { type: 's', value: subject }]]);

        const shared = await file('shared\n');
        const A = await commit(await tree([{ name: 's1', checksum: shared }, { name: 'a1', checksum: await file('only in A\n') }]), null, 'A');
        const C = await commit(await tree([{ name: 's1', checksum: shared }, { name: 'c1', checksum: await file('only in C\n') }]), A, 'C');
        const subMeta = await tx.writeDirMeta({ uid: 0, gid: 0, mode: 0o40700, xattrs: [] });
        const sub = await tree([{ name: 'b3', checksum: await file('b3 only in B\n') }]);
        const B = await commit(await tree(
          [{ name: 's1', checksum: shared }, { name: 'b1', checksum: await file('b1 only in B\n') }, { name: 'b2', checksum: await tx.writeSymlink({ ...fileMeta, mode: 0o120777, symlinkTarget: 'b1' }) }],
          [{ name: 'sub', tree: sub, meta: subMeta }]), null, 'B');
        tx.setRef('img/a', C);
        tx.setRef('img/b', B);
        await tx.commit();
        assert.deepEqual([...(await repo.listRefs('img/')).keys()].sort(), ['img/a', 'img/b']);

        const before = countObjects(repo);
        assert.deepEqual(await repo.prune(), { objectsDeleted: 0, bytesFreed: 0 });
        assert.equal(countObjects(repo), before);

        await repo.deleteRefs(['img/b', 'img/does-not-exist']);
        assert.equal(await repo.resolveRef('img/b'), null);
        const r = await repo.prune();
        // b1, b2 (symlink), b3, B's root dirtree, sub dirtree, sub dirmeta, B commit, B commitmeta
        assert.equal(r.objectsDeleted, 8);
        assert.ok(r.bytesFreed > 0);
        assert.equal(countObjects(repo), before - 8);
        assert.equal(await repo.hasObject(B, 'commit'), false);
        assert.equal(await repo.hasObject(B, 'commitmeta'), false);
        assert.equal(await repo.hasObject(A, 'commit'), true, 'parent of a ref kept');
        assert.equal(await repo.hasObject(A, 'commitmeta'), true);
        assert.equal(await repo.hasObject(shared, 'file'), true);
        assert.deepEqual(await repo.verifyCommit(C), []);
        assert.deepEqual(await repo.verifyCommit(A), []);
        assert.match(ostree(['fsck', `--repo=${repo.path}`]), /fsck of 2 commits completed successfully - no errors found/);
        assert.deepEqual(await repo.prune(), { objectsDeleted: 0, bytesFreed: 0 });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
