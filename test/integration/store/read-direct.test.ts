/**
 * Small file objects read without a stream (OstreeRepo.readFileContentAtMostSync, commit-path
 * readDirect: the image config and /exports files of an install) give exactly what the stream
 * path gives, on repositories written by the real `ostree` (the oracle): regular files byte for
 * byte, symlinks as null, more than the limit as "take the stream path" (which then says
 * IMAGE_TOO_LARGE with the size), archive repositories as "take the stream path".
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OstreeRepo } from '../../../src/store/repo.js';
import { readContentObject, readDirect } from '../../../src/store/commit-path.js';
import type { Checksum } from '../../../src/store/types.js';

/** The file objects of REPO (checksum -> object path). */
function fileObjects(repo: string): Map<Checksum, string> {
  const out = new Map<Checksum, string>();
  const objs = path.join(repo, 'objects');
  for (const d of fs.readdirSync(objs)) {
    for (const f of fs.readdirSync(path.join(objs, d))) {
      const m = /^([0-9a-f]{62})\.(file|filez)$/.exec(f);
      if (m) out.set(`${d}${m[1]}` as Checksum, path.join(objs, d, f));
    }
  }
  return out;
}

async function viaStream(repo: OstreeRepo, c: Checksum): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const ch of (await repo.openFileContent(c)) as AsyncIterable<Buffer>) chunks.push(Buffer.from(ch));
  return Buffer.concat(chunks);
}

describe('store: small file objects read without a stream (real ostree repositories)', function () {
  this.timeout(60_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-read-direct-'));
    const tree = path.join(tmp, 'tree');
    fs.mkdirSync(path.join(tree, 'exports'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'exports', 'config.json.template'), '{"ociVersion": "1.0.2"}\n');
    fs.writeFileSync(path.join(tree, 'empty'), '');
    fs.writeFileSync(path.join(tree, 'big'), Buffer.alloc(200_000, 'x'));
    fs.symlinkSync('/etc/shadow', path.join(tree, 'exports', 'service.template'));
    for (const mode of ['bare', 'archive-z2']) {
      const r = path.join(tmp, mode);
      execFileSync('ostree', ['init', `--repo=${r}`, `--mode=${mode}`]);
      execFileSync('ostree', [`--repo=${r}`, 'commit', '--branch=b', `--tree=dir=${tree}`, '--no-xattrs'], { stdio: 'ignore' });
    }
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('bare: the same bytes as the stream, null for a symlink, the stream path above the limit', async () => {
    const dir = path.join(tmp, 'bare');
    const repo = await OstreeRepo.open(dir);
    const objs = fileObjects(dir);
    assert.ok(objs.size >= 4, `objects: ${objs.size}`);
    let symlinks = 0;
    for (const [c, p] of objs) {
      const direct = repo.readFileContentAtMostSync(c, 4 << 20);
      if (fs.lstatSync(p).isSymbolicLink()) {
        assert.equal(direct, null, `${c}: a symlink object`);
        assert.equal(readDirect(repo, c, 4 << 20), null);
        assert.equal(await readContentObject(repo, c, 4 << 20, 'x'), null);
        symlinks++;
        continue;
      }
      const streamed = await viaStream(repo, c);
      assert.ok(direct && direct.equals(streamed), `${c}: same content`);
      assert.ok(readDirect(repo, c, 4 << 20)!.equals(streamed));
      if (streamed.length > 1000) {
        // over the limit: at most limit + 1 bytes read, readDirect defers to the stream path and its message
        assert.equal(repo.readFileContentAtMostSync(c, 1000)!.length, 1001);
        assert.equal(readDirect(repo, c, 1000), undefined);
        await assert.rejects(
          readContentObject(repo, c, 1000, 'the big file'),
          (e: Error & { code?: string }) => e.code === 'IMAGE_TOO_LARGE' && e.message === `the big file is ${streamed.length} bytes, above the 1000-byte limit`,
        );
      }
    }
    assert.equal(symlinks, 1);
    assert.equal(readDirect(repo, 'ab'.repeat(32) as Checksum, 100), undefined, 'a missing object: the stream path reports it');
  });

  it('archive: always the stream path', async () => {
    const dir = path.join(tmp, 'archive-z2');
    const repo = await OstreeRepo.open(dir);
    for (const c of fileObjects(dir).keys()) {
      assert.equal(repo.readFileContentAtMostSync(c, 4 << 20), undefined);
      assert.equal(readDirect(repo, c, 4 << 20), undefined);
    }
  });
});
