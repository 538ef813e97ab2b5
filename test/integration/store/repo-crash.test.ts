import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OstreeRepo } from '../../../src/store/repo.js';
import type { Checksum } from '../../../src/store/types.js';
import { makeTempDir, PROJECT_ROOT } from '../../helpers/fixtures.js';
import { ostree } from './vector-helpers.js';

const REPO_JS = path.join(PROJECT_ROOT, 'dist/src/store/repo.js');

/** Child: stage 50 new files + a commit moving `main`, then either hang (killed by the parent) or commit(). */
const CHILD = `import { OstreeRepo } from ${JSON.stringify(REPO_JS)};
const [repoPath, action, tag] = process.argv.slice(1);
const repo = await OstreeRepo.open(repoPath);
const tx = await repo.beginTransaction();
const files = [];
for (let i = 0; i < 50; i++) {
  const data = Buffer.from('crash content ' + i + ' ' + (tag || process.pid) + '\\n');
  files.push({ name: 'f' + i, checksum: await tx.writeRegularFile({ uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] }, data, data.length) });
}
const meta = await tx.writeDirMeta({ uid: 0, gid: 0, mode: 0o40755, xattrs: [] });
const tree = await tx.writeDirTree({ files, dirs: [] });
const c = await tx.writeCommit({ metadata: [], parent: null, related: [], subject: 'never', body: '', timestamp: 1700000000, rootTree: tree, rootMeta: meta });
tx.setRef('main', c);
console.log('staged ' + c);
if (action === 'commit') {
  await tx.commit();
  console.log('committed');
}
setInterval(() => {}, 1000);`;

function runChild(repo: string, action: 'hang' | 'commit', env: Record<string, string> = {}, tag = ''): Promise<{ commit: string; signal: string | null; committed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, repo, action, tag], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if ((action === 'hang' && out.includes('\n')) || out.includes('committed\n')) child.kill('SIGKILL');
    });
    child.on('exit', (_code, signal) => {
      const m = /staged ([0-9a-f]{64})/.exec(out);
      if (!m) reject(new Error(`child did not stage: ${out} ${err}`));
      else resolve({ commit: m[1]!, signal, committed: out.includes('committed\n') });
    });
  });
}

describe('store/transaction crash safety (SIGKILL before/while committing)', function () {
  this.timeout(60_000);
  let dir: string;
  let repo: OstreeRepo;
  let main: Checksum;

  beforeEach(async () => {
    dir = makeTempDir('atomic-crash-');
    repo = await OstreeRepo.openOrCreate(path.join(dir, 'repo'), 'bare');
    const tx = await repo.beginTransaction();
    const f = await tx.writeRegularFile({ uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] }, Buffer.from('keep\n'), 5);
    const meta = await tx.writeDirMeta({ uid: 0, gid: 0, mode: 0o40755, xattrs: [] });
    const tree = await tx.writeDirTree({ files: [{ name: 'keep', checksum: f }], dirs: [] });
    main = await tx.writeCommit({ metadata: [], parent: null, related: [], subject: 'base', body: '', timestamp: 1600000000, rootTree: tree, rootMeta: meta });
    tx.setRef('main', main);
    await tx.commit();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const stagingDirs = () => fs.readdirSync(path.join(repo.path, 'tmp')).filter((n) => n.startsWith('staging-'));

  it('a transaction killed before commit leaves the repo clean and its staging dir is swept', async () => {
    const { commit, signal } = await runChild(repo.path, 'hang');
    assert.equal(signal, 'SIGKILL');
    assert.equal(await repo.resolveRef('main'), main, 'ref must not move');
    assert.equal(await repo.hasObject(commit as Checksum, 'commit'), false, 'staged commit must not be in objects/');
    assert.equal(stagingDirs().length, 1, 'the killed transaction leaves its staging dir');
    assert.match(ostree(['fsck', `--repo=${repo.path}`]), /no errors found/);
    const tx = await repo.beginTransaction();
    assert.deepEqual(stagingDirs(), [path.basename(tx.stagingDir)], 'stale staging swept by the next transaction');
    await tx.abort();
    assert.deepEqual(stagingDirs(), []);
    assert.deepEqual(fs.readdirSync(path.join(repo.path, '.atomic-lock.d')).filter((n) => !n.startsWith('.')), []);
  });

  const marker = (c: string) => path.join(repo.path, 'state', `${c}.commitpartial`);
  const objectsIn = () => {
    const out: string[] = [];
    for (const sub of fs.readdirSync(path.join(repo.path, 'objects'))) for (const n of fs.readdirSync(path.join(repo.path, 'objects', sub))) out.push(sub + n);
    return out;
  };

  it('a transaction killed after its trees and files moved in, before its commit, leaves no commit object (ostree fsck walks every commit present)', async () => {
    const before = objectsIn().length;
    const { commit, signal } = await runChild(repo.path, 'commit', { ATOMIC_FAULT: 'store:commit:trees-in' }, 'again');
    assert.equal(signal, 'SIGKILL');
    assert.equal(await repo.hasObject(commit as Checksum, 'commit'), false, 'the commit goes in last');
    assert.equal(objectsIn().length, before + 50 + 1, 'the 50 files and the dirtree are in');
    assert.ok(fs.existsSync(marker(commit)), 'marked partial until its objects are durable');
    assert.match(ostree(['fsck', `--repo=${repo.path}`]), /no errors found/);
    // the same transaction run again completes it and drops the marker
    const again = await runChild(repo.path, 'commit', {}, 'again');
    assert.equal(again.commit, commit);
    assert.ok(again.committed);
    assert.equal(await repo.resolveRef('main'), commit);
    assert.equal(fs.existsSync(marker(commit)), false);
    assert.deepEqual(await repo.verifyCommit(commit as Checksum), []);
    assert.doesNotMatch(ostree(['fsck', `--repo=${repo.path}`]), /partial/);
  });

  it('a transaction killed after every object moved in, run again, finds them all there and still drops the marker', async () => {
    const { commit } = await runChild(repo.path, 'commit', { ATOMIC_FAULT: 'store:commit:after-link' }, 'twice');
    assert.ok(fs.existsSync(marker(commit)));
    const again = await runChild(repo.path, 'commit', { ATOMIC_FAULT_TRACE: path.join(dir, 'trace') }, 'twice');
    assert.equal(again.commit, commit);
    assert.ok(again.committed);
    assert.deepEqual(fs.readFileSync(path.join(dir, 'trace'), 'utf8').split('\n').filter((n) => n.startsWith('store:commit:')), [], 'nothing was staged the second time');
    assert.equal(await repo.resolveRef('main'), commit);
    assert.equal(fs.existsSync(marker(commit)), false);
    assert.doesNotMatch(ostree(['fsck', `--repo=${repo.path}`]), /partial/);
  });

  it('a transaction killed after linking objects but before the refs leaves no ref moved; prune collects the objects', async () => {
    const { commit, signal } = await runChild(repo.path, 'commit', { ATOMIC_FAULT: 'store:commit:after-link' });
    assert.equal(signal, 'SIGKILL');
    assert.equal(await repo.resolveRef('main'), main);
    assert.equal(await repo.hasObject(commit as Checksum, 'commit'), true);
    assert.ok(fs.existsSync(marker(commit)), 'still marked partial: the renames are not durable yet');
    assert.match(ostree(['fsck', `--repo=${repo.path}`]), /no errors found/);
    const r = await repo.prune();
    assert.equal(r.objectsDeleted, 50 + 1 + 1, 'the 50 files, the dirtree and the commit (dirmeta is shared)');
    assert.equal(await repo.hasObject(commit as Checksum, 'commit'), false);
    assert.equal(fs.existsSync(marker(commit)), false, 'prune removes the marker with its commit');
    assert.deepEqual(await repo.verifyCommit(main), []);
    assert.deepEqual(stagingDirs(), [], 'prune sweeps stale staging too');
  });

  it('a committed transaction leaves no partial marker; a symlinked state/ is refused before any object moves', async () => {
    const { commit, committed } = await runChild(repo.path, 'commit');
    assert.ok(committed);
    assert.equal(await repo.resolveRef('main'), commit);
    assert.deepEqual(fs.readdirSync(path.join(repo.path, 'state')), []);
    const outside = makeTempDir('atomic-crash-outside-');
    try {
      fs.rmSync(path.join(repo.path, 'state'), { recursive: true });
      fs.symlinkSync(outside, path.join(repo.path, 'state'));
      const tx = await repo.beginTransaction();
      const data = Buffer.from('other\n');
      const f = await tx.writeRegularFile({ uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] }, data, data.length);
      const meta = await tx.writeDirMeta({ uid: 0, gid: 0, mode: 0o40755, xattrs: [] });
      const tree = await tx.writeDirTree({ files: [{ name: 'other', checksum: f }], dirs: [] });
      const c = await tx.writeCommit({ metadata: [], parent: null, related: [], subject: 'other', body: '', timestamp: 1700000001, rootTree: tree, rootMeta: meta });
      tx.setRef('main', c);
      await assert.rejects(tx.commit(), (e: Error & { code?: string }) => e.code === 'STORE_INVALID' && e.message.includes('state'));
      assert.deepEqual(fs.readdirSync(outside), [], 'nothing written through the symlink');
      assert.equal(await repo.hasObject(f, 'file'), false);
      assert.equal(await repo.resolveRef('main'), commit);
      // a marker path that is a symlink out of the store: refused, nothing written through it
      fs.unlinkSync(path.join(repo.path, 'state'));
      fs.mkdirSync(path.join(repo.path, 'state'));
      const tx2 = await repo.beginTransaction();
      const f2 = await tx2.writeRegularFile({ uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] }, data, data.length);
      const tree2 = await tx2.writeDirTree({ files: [{ name: 'other', checksum: f2 }], dirs: [] });
      const c2 = await tx2.writeCommit({ metadata: [], parent: null, related: [], subject: 'other', body: '', timestamp: 1700000001, rootTree: tree2, rootMeta: meta });
      assert.equal(c2, c);
      fs.symlinkSync(path.join(outside, 'planted'), marker(c2));
      await assert.rejects(tx2.commit(), (e: Error & { code?: string }) => e.code === 'STORE_INVALID' && e.message.includes('commitpartial'));
      assert.deepEqual(fs.readdirSync(outside), [], 'nothing written through the planted marker');
      assert.equal(await repo.hasObject(c2, 'commit'), false);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('an aborted transaction leaves nothing behind', async () => {
    const tx = await repo.beginTransaction();
    const c = await tx.writeRegularFile({ uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] }, Buffer.from('gone'), 4);
    tx.setRef('other', main);
    await tx.abort();
    assert.equal(await repo.hasObject(c, 'file'), false);
    assert.equal(await repo.resolveRef('other'), null);
    assert.deepEqual(stagingDirs(), []);
  });
});
