/**
 * The store's I/O worker pool (write-pool.ts) must not change what is stored: the same tar
 * imported with workers and without gives the same commit trees, both repos pass `ostree fsck`,
 * and every content object a transaction wrote carries a verified-object marker, so the first
 * checkout re-hashes nothing - while a later change of an object is still caught.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { OstreeRepo } from '../../../src/store/repo.js';
import { importLayerTar } from '../../../src/store/layer-import.js';
import { checkoutLayers } from '../../../src/store/checkout.js';
import { verifiedMarkerPath, verifyContentObjects } from '../../../src/store/object-verify.js';
import { configureWritePool } from '../../../src/store/write-pool.js';
import type { Checksum, FileMeta } from '../../../src/store/types.js';
import { makeTempDir } from '../../helpers/fixtures.js';
import { acquireRepoLock } from '../../../src/store/repo-lock.js';
import { isAtomicError } from '../../../src/util/errors.js';

async function sampleTar(): Promise<Buffer> {
  const p = tar.pack();
  const add = (h: Partial<tar.Header> & { name: string }, data?: Buffer | string) =>
    p.entry({ mtime: new Date(0), ...h } as tar.Header, data === undefined ? Buffer.alloc(0) : Buffer.from(data));
  add({ name: 'etc/', type: 'directory', mode: 0o755 });
  add({ name: 'usr/bin/', type: 'directory', mode: 0o755 });
  for (let i = 0; i < 600; i++) {
    // every 10th file has the content of another (dedup inside the layer), some owned by others
    const body = i % 10 === 0 ? 'same content\n' : `file ${i}\n`.repeat(1 + (i % 50));
    add({ name: `usr/share/d${i % 7}/f${i}`, type: 'file', mode: i % 3 === 0 ? 0o600 : 0o644, uid: i % 4 === 0 ? 1000 : 0, gid: i % 5 === 0 ? 100 : 0 }, body);
  }
  add({ name: 'usr/bin/suid', type: 'file', mode: 0o4755 }, 'setuid\n');
  add({ name: 'usr/bin/sgid', type: 'file', mode: 0o2711, gid: 5 }, 'setgid\n');
  add({ name: 'usr/bin/empty', type: 'file', mode: 0o755 }, '');
  add({ name: 'usr/bin/link', type: 'link', linkname: 'usr/bin/suid' });
  add({ name: 'usr/bin/sh', type: 'symlink', linkname: 'bash' });
  add({ name: 'usr/bin/owned-link', type: 'symlink', linkname: '../lib/big', uid: 1000, gid: 100 });
  add({ name: 'usr/lib/big', type: 'file', mode: 0o644 }, Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  add({ name: 'usr/lib/xattr', type: 'file', mode: 0o644, pax: { 'SCHILY.xattr.user.test': 'v' } } as Partial<tar.Header> & { name: string }, 'with xattr\n');
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('store I/O worker pool', function () {
  this.timeout(120_000);
  let tmp: string;
  let input: Buffer;

  before(async () => {
    tmp = makeTempDir('atomic-write-pool-');
    input = await sampleTar();
  });
  after(() => {
    configureWritePool(Number(process.env.ATOMIC_STORE_WORKERS ?? 0));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function importWith(workers: number, name: string): Promise<{ repo: OstreeRepo; commit: Checksum; written: number }> {
    configureWritePool(workers);
    const repo = await OstreeRepo.openOrCreate(path.join(tmp, name), 'bare');
    const tx = await repo.beginTransaction();
    const r = await importLayerTar(tx, Readable.from([input]));
    const commit = await tx.writeCommit({ metadata: [], parent: null, related: [], subject: '', body: '', timestamp: 1600000000, rootTree: r.rootTree, rootMeta: r.rootMeta });
    tx.setRef('test', commit);
    await tx.commit();
    return { repo, commit, written: tx.stats.objectsWritten };
  }

  it('stores the same objects with and without workers; ostree fsck accepts both; the commit writes markers', async () => {
    const a = await importWith(2, 'with-workers');
    const b = await importWith(0, 'without');
    assert.equal(a.commit, b.commit, 'same commit (same trees) either way');
    assert.equal(a.written, b.written, 'same number of objects written');
    // every object: content files, symlinks, dirtrees, dirmetas, the commit (the workers create all but the commit)
    const list = (r: OstreeRepo) => execFileSync('find', ['objects', '-printf', '%P %y %m %U %G %s %l\n'], { cwd: r.path }).toString().split('\n').sort().join('\n');
    assert.equal(list(a.repo), list(b.repo), 'same object files, types, modes, owners, sizes and link targets');
    assert.match(list(a.repo), / l 777 1000 100 10 \.\.\/lib\/big$/m, 'the symlink object keeps its owner');
    for (const r of [a.repo, b.repo]) execFileSync('ostree', ['fsck', `--repo=${r.path}`], { stdio: 'pipe' });
    assert.deepEqual(
      fs.readdirSync(path.join(a.repo.path, 'tmp')).filter((n) => n.startsWith('staging-')),
      [],
      'staging dir removed',
    );

    // every content object was recorded when committed: a checkout hashes none of them
    const sums = execFileSync('find', ['objects', '-name', '*.file'], { cwd: a.repo.path })
      .toString()
      .trim()
      .split('\n')
      .map((p) => p.replace(/^objects\/(..)\/(.{62})\.file$/, '$1$2') as Checksum);
    assert.ok(sums.length > 500, `${sums.length} content objects`);
    for (const r of [a.repo, b.repo]) assert.deepEqual(await verifyContentObjects(r, sums), { checked: sums.length, hashed: 0 });
    const co = await checkoutLayers(a.repo, [a.commit], path.join(tmp, 'co'));
    assert.equal(co.symlinks, 2);
    assert.equal(fs.readFileSync(path.join(tmp, 'co/usr/bin/link'), 'utf8'), 'setuid\n');
    assert.equal(fs.statSync(path.join(tmp, 'co/usr/bin/suid')).mode & 0o7777, 0o4755);
  });

  it('a content object changed after the commit is still caught by the next checkout', async () => {
    const a = await importWith(2, 'tamper');
    const obj = execFileSync('find', ['objects', '-name', '*.file', '-size', '+1k'], { cwd: a.repo.path }).toString().trim().split('\n')[0]!;
    const p = path.join(a.repo.path, obj);
    fs.chmodSync(p, 0o644);
    fs.appendFileSync(p, 'tampered');
    await assert.rejects(checkoutLayers(a.repo, [a.commit], path.join(tmp, 'co-tampered')), (e: Error & { code?: string }) => e.code === 'STORE_CORRUPT');
  });

  it('a checkout whose hardlinks are made by the workers equals one made on the calling thread', async () => {
    // the import starts the workers (a checkout does not start them for a few hundred links)
    const a = await importWith(2, 'checkout-both');
    const tree = (d: string) => execFileSync('find', ['.', '-printf', '%P %y %m %U %G %s %l\n'], { cwd: d }).toString().split('\n').sort().join('\n');
    const withWorkers = await checkoutLayers(a.repo, [a.commit], path.join(tmp, 'co-workers'));
    configureWritePool(0);
    const here = await checkoutLayers(a.repo, [a.commit], path.join(tmp, 'co-here'));
    assert.deepEqual(withWorkers, here, 'same counts');
    assert.ok(withWorkers.files > 600, `${withWorkers.files} files`);
    assert.equal(tree(path.join(tmp, 'co-workers')), tree(path.join(tmp, 'co-here')), 'same paths, types, modes, owners, sizes, link targets');
    // hardlinks to the objects, not copies: every regular file of both checkouts shares its inode with its object
    const objIno = new Set(execFileSync('find', ['objects', '-name', '*.file', '-type', 'f', '-printf', '%i\n'], { cwd: a.repo.path }).toString().trim().split('\n'));
    for (const co of ['co-workers', 'co-here']) {
      const inos = execFileSync('find', ['.', '-type', 'f', '-printf', '%i\n'], { cwd: path.join(tmp, co) })
        .toString()
        .trim()
        .split('\n');
      assert.ok(
        inos.every((i) => objIno.has(i)),
        `${co}: every file is a hardlink to an object`,
      );
    }
  });

  for (const workers of [0, 2]) {
    it(`two transactions storing the same objects concurrently: the later commit's copy is kept and vouched for (${workers} workers)`, async () => {
      // The rule (transaction.ts): an object is staged only when absent from objects/ when the
      // transaction looked; the commit renames it in, so a concurrent transaction's copy of the
      // same object is replaced, as ostree does. A checkout of the earlier copy keeps it.
      configureWritePool(workers);
      const repo = await OstreeRepo.openOrCreate(path.join(tmp, `concurrent-${workers}`), 'bare');
      const FILE: FileMeta = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };
      const DIR = { uid: 0, gid: 0, mode: 0o040755, xattrs: [] };
      const names = Array.from({ length: 100 }, (_, i) => `f${String(i).padStart(3, '0')}`);
      const body = (name: string) => Buffer.from(`content of ${name}\n`);
      const stage = async (subject: string) => {
        const tx = await repo.beginTransaction();
        const files = [];
        for (const name of names) files.push({ name, checksum: await tx.writeRegularFile(FILE, body(name), body(name).length) });
        const meta = await tx.writeDirMeta(DIR);
        const tree = await tx.writeDirTree({ files, dirs: [] });
        const commit = await tx.writeCommit({ metadata: [], parent: null, related: [], subject, body: '', timestamp: 0, rootTree: tree, rootMeta: meta });
        tx.setRef(subject, commit);
        return { tx, commit, sums: files.map((f) => f.checksum) };
      };
      const a = await stage('a');
      const b = await stage('b'); // both staged every object: neither found it in objects/
      assert.equal(a.tx.stats.objectsWritten, b.tx.stats.objectsWritten);
      await a.tx.commit();
      await checkoutLayers(repo, [a.commit], path.join(tmp, `co-a-${workers}`));
      const objIno = (c: Checksum) => fs.lstatSync(repo.objectPath(c, 'file')).ino;
      const before = a.sums.map(objIno);
      await b.tx.commit();
      const after = b.sums.map(objIno);
      assert.ok(
        after.every((ino, i) => ino !== before[i]),
        'the later commit renamed its copies in',
      );
      for (const [i, name] of names.entries()) {
        const f = path.join(tmp, `co-a-${workers}`, name);
        assert.equal(fs.statSync(f).ino, before[i], `${name}: the earlier checkout keeps the copy it linked`);
        assert.equal(fs.readFileSync(f, 'utf8'), `content of ${name}\n`);
      }
      // the markers vouch for the copies now in objects/ (the last line per object wins): a
      // checkout hashes nothing and links them
      assert.deepEqual(await verifyContentObjects(repo, b.sums), { checked: names.length, hashed: 0 });
      assert.ok(fs.readFileSync(verifiedMarkerPath(repo), 'utf8').split('\n').length > 2 * names.length, 'both commits recorded markers');
      await checkoutLayers(repo, [b.commit], path.join(tmp, `co-b-${workers}`));
      for (const [i, name] of names.entries()) assert.equal(fs.statSync(path.join(tmp, `co-b-${workers}`, name)).ino, after[i]);
      execFileSync('ostree', ['fsck', `--repo=${repo.path}`], { stdio: 'pipe' });
      assert.deepEqual(
        fs.readdirSync(path.join(repo.path, 'tmp')).filter((n) => n.startsWith('staging-')),
        [],
        'both staging dirs removed',
      );
    });
  }

  it('a process whose pool ran jobs on one of two workers exits by itself (idle workers hold nothing open)', async () => {
    // A child process: two workers, one job (so the other worker stays idle), then nothing left to
    // do. Before the fix the idle worker's port kept the event loop alive and a CLI pull with
    // workers on never exited. The kill below is only a guard against hanging the suite.
    const mod = new URL('../../../src/store/write-pool.js', import.meta.url).href;
    const dir = path.join(tmp, 'exit');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'a'), 'a');
    const script = `import { configureWritePool, writePool } from ${JSON.stringify(mod)};
configureWritePool(2);
const r = await writePool().rename({ dirs: [], pairs: [${JSON.stringify(path.join(dir, 'a'))}, ${JSON.stringify(path.join(dir, 'b'))}] });
console.log(JSON.stringify(r.err ?? null));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    clearTimeout(guard);
    assert.equal(sig, null, 'the process did not exit by itself (killed by the guard)');
    assert.equal(code, 0);
    assert.equal(out.trim(), 'null');
    assert.ok(!fs.existsSync(path.join(dir, 'a')) && fs.readFileSync(path.join(dir, 'b'), 'utf8') === 'a', 'the job ran on a worker');
  });
});

describe('store staging directories are reused', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => (tmp = makeTempDir('atomic-staging-reuse-')));
  after(() => {
    configureWritePool(Number(process.env.ATOMIC_STORE_WORKERS ?? 0));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const FILE: FileMeta = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };
  const DIR = { uid: 0, gid: 0, mode: 0o040755, xattrs: [] };
  const freeDirs = (repo: OstreeRepo) => fs.readdirSync(path.join(repo.path, 'tmp')).filter((n) => n.startsWith('atomic-staging-free-'));
  const stagingDirs = (repo: OstreeRepo) => fs.readdirSync(path.join(repo.path, 'tmp')).filter((n) => n.startsWith('staging-'));
  const stage = async (repo: OstreeRepo, tag: string, n = 300) => {
    const tx = await repo.beginTransaction();
    const files = [];
    for (let i = 0; i < n; i++) files.push({ name: `f${i}`, checksum: await tx.writeRegularFile(FILE, Buffer.from(`${tag} ${i}\n`), `${tag} ${i}\n`.length) });
    const meta = await tx.writeDirMeta(DIR);
    const tree = await tx.writeDirTree({ files, dirs: [] });
    const commit = await tx.writeCommit({ metadata: [], parent: null, related: [], subject: tag, body: '', timestamp: 0, rootTree: tree, rootMeta: meta });
    tx.setRef(tag, commit);
    return { tx, commit };
  };

  for (const workers of [0, 2]) {
    it(`a committed transaction leaves its emptied staging dir for the next one, which claims it (${workers} workers)`, async () => {
      configureWritePool(workers);
      const repo = await OstreeRepo.openOrCreate(path.join(tmp, `reuse-${workers}`), 'bare');
      const a = await stage(repo, 'a');
      await a.tx.commit();
      assert.deepEqual(stagingDirs(repo), []);
      const [free] = freeDirs(repo);
      assert.ok(free !== undefined, 'one free staging dir kept');
      // into an empty store the staged xx/ dirs were renamed into objects/ whole, and made again
      // empty for the next transaction (it makes none: bytes written by an update pull)
      const emptyShards = (dir: string) => fs.readdirSync(dir).every((d) => /^[0-9a-f]{2}$/.test(d) && fs.readdirSync(path.join(dir, d)).length === 0);
      assert.ok(fs.readdirSync(path.join(repo.path, 'tmp', free)).length > 100 && emptyShards(path.join(repo.path, 'tmp', free)), 'it holds only empty xx/ dirs');
      const ino = fs.statSync(path.join(repo.path, 'tmp', free)).ino;

      const b = await stage(repo, 'b');
      assert.deepEqual(freeDirs(repo), [], 'claimed by the next transaction');
      assert.equal(fs.statSync(b.tx.stagingDir).ino, ino, 'the same directory, under the transaction name');
      await b.tx.commit();
      assert.equal(freeDirs(repo).length, 1);
      // b's objects went one by one into the objects/xx dirs a left: its emptied xx/ dirs stay
      const bShards = path.join(repo.path, 'tmp', freeDirs(repo)[0]!);
      assert.ok(fs.readdirSync(bShards).length > 100 && emptyShards(bShards), 'it holds only empty xx/ dirs');
      for (const [ref, tag] of [
        ['a', 'a'],
        ['b', 'b'],
      ]) {
        const co = path.join(tmp, `co-${workers}-${ref}`);
        await checkoutLayers(repo, [(ref === 'a' ? a : b).commit], co);
        assert.equal(fs.readFileSync(path.join(co, 'f7'), 'utf8'), `${tag} 7\n`);
      }
      execFileSync('ostree', ['fsck', `--repo=${repo.path}`], { stdio: 'pipe' });

      // an aborted transaction removes its staging dir (it may hold staged files)
      const c = await stage(repo, 'c');
      await c.tx.abort();
      assert.deepEqual(stagingDirs(repo), []);
      assert.deepEqual(freeDirs(repo), [], 'the claimed dir went with the aborted transaction');
    });
  }

  it('a commit renames a staged xx/ dir into objects/ whole when objects/xx is absent or empty, and only when it holds exactly the staged objects', async () => {
    configureWritePool(0);
    const repo = await OstreeRepo.openOrCreate(path.join(tmp, 'whole'), 'bare');
    const objects = path.join(repo.path, 'objects');
    const t = await stage(repo, 'w', 300);
    // the commit's dir is not moved whole: the commit object goes in after everything else
    const commitSub = t.commit.slice(0, 2);
    const commitDirIno = fs.statSync(path.join(t.tx.stagingDir, commitSub)).ino;
    const subs = fs.readdirSync(t.tx.stagingDir).filter((d) => /^[0-9a-f]{2}$/.test(d) && d !== commitSub && fs.readdirSync(path.join(t.tx.stagingDir, d)).length > 0);
    assert.ok(subs.length > 100);
    const [planted, emptied, ...rest] = subs;
    const inodes = new Map(rest.map((d) => [d, fs.statSync(path.join(t.tx.stagingDir, d)).ino]));
    // a file the transaction did not stage keeps its dir from moving; an existing empty objects/xx is replaced
    fs.writeFileSync(path.join(t.tx.stagingDir, planted!, 'stray'), 'x');
    fs.mkdirSync(path.join(objects, emptied!));
    await t.tx.commit();
    for (const [d, ino] of inodes) assert.equal(fs.statSync(path.join(objects, d)).ino, ino, `objects/${d} is the staged dir`);
    assert.notEqual(fs.statSync(path.join(objects, commitSub)).ino, commitDirIno, 'the commit and its dir-mates renamed one by one');
    assert.equal(fs.existsSync(path.join(objects, planted!, 'stray')), false, 'the stray file stays out of objects/');
    assert.ok(fs.readdirSync(path.join(objects, planted!)).length > 0, 'its objects were renamed one by one');
    assert.ok(fs.readdirSync(path.join(objects, emptied!)).length > 0);
    assert.deepEqual(freeDirs(repo), [], 'the dir with the stray file is not kept');
    assert.deepEqual(await repo.verifyCommit(t.commit), []);
    execFileSync('ostree', ['fsck', `--repo=${repo.path}`], { stdio: 'pipe' });
  });

  it('a transaction can be given its staging dir (a staging-* entry of its tmp/, from newStagingDir) and refuses any other', async () => {
    configureWritePool(0);
    const repo = await OstreeRepo.openOrCreate(path.join(tmp, 'given'), 'bare');
    const { Transaction } = await import('../../../src/store/transaction.js');
    const lock = await acquireRepoLock(repo.path, 'shared');
    try {
      // a relative repository path gives the same absolute dir as the repository's own path
      const rel = path.relative(process.cwd(), repo.path);
      const dir = Transaction.newStagingDir(rel);
      assert.equal(path.dirname(dir), path.join(repo.path, 'tmp'));
      assert.match(path.basename(dir), new RegExp(`^staging-${process.pid}-[0-9a-f]{12}$`));
      assert.notEqual(Transaction.newStagingDir(repo.path), dir, 'a fresh name each time');
      for (const bad of [
        path.join(tmp, 'staging-elsewhere'),
        path.join(repo.path, 'tmp', 'other-name'),
        path.join(repo.path, 'tmp', 'staging-x', 'deeper'),
        path.join(repo.path, 'objects', 'staging-x'),
      ]) {
        await assert.rejects(Transaction.create(repo, lock, bad), (e: unknown) => isAtomicError(e) && e.code === 'INTERNAL', bad);
        assert.equal(fs.existsSync(bad), false, `${bad} was not made`);
      }
      const tx = await Transaction.create(repo, lock, dir);
      assert.equal(tx.stagingDir, dir);
      assert.ok(fs.statSync(dir).isDirectory());
      const c = await tx.writeRegularFile(FILE, Buffer.from('given\n'), 6);
      tx.setRef(
        'given',
        await tx.writeCommit({
          metadata: [],
          parent: null,
          related: [],
          subject: '',
          body: '',
          timestamp: 0,
          rootTree: await tx.writeDirTree({ files: [{ name: 'g', checksum: c }], dirs: [] }),
          rootMeta: await tx.writeDirMeta(DIR),
        }),
      );
      await tx.commit();
      assert.deepEqual(stagingDirs(repo), []);
      execFileSync('ostree', ['fsck', `--repo=${repo.path}`], { stdio: 'pipe' });
    } finally {
      await lock.release();
    }
  });

  it('keeps at most 4 free staging dirs, and never one that still holds a file', async () => {
    configureWritePool(0);
    const repo = await OstreeRepo.openOrCreate(path.join(tmp, 'bounded'), 'bare');
    const txs = [];
    for (let i = 0; i < 6; i++) txs.push(await stage(repo, `t${i}`, 20));
    for (const t of txs) await t.tx.commit();
    assert.equal(freeDirs(repo).length, 4);
    assert.deepEqual(stagingDirs(repo), []);

    // a file the transaction did not stage (here: planted) keeps the dir from being kept
    for (const f of freeDirs(repo)) fs.rmSync(path.join(repo.path, 'tmp', f), { recursive: true });
    const t = await stage(repo, 'planted', 20);
    fs.writeFileSync(path.join(t.tx.stagingDir, 'stray'), 'x');
    await t.tx.commit();
    assert.deepEqual(freeDirs(repo), []);
    assert.deepEqual(stagingDirs(repo), []);
  });
});
