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
const [repoPath, action] = process.argv.slice(1);
const repo = await OstreeRepo.open(repoPath);
const tx = await repo.beginTransaction();
const files = [];
for (let i = 0; i < 50; i++) {
  const data = Buffer.from('crash content ' + i + ' ' + process.pid + '\\n');
  files.push({ name: 'f' + i, checksum: await tx.writeRegularFile({ uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] }, data, data.length) });
}
const meta = await tx.writeDirMeta({ uid: 0, gid: 0, mode: 0o40755, xattrs: [] });
const tree = await tx.writeDirTree({ files, dirs: [] });
const c = await tx.writeCommit({ metadata: [], parent: null, related: [], subject: 'never', body: '', timestamp: 1700000000, rootTree: tree, rootMeta: meta });
tx.setRef('main', c);
console.log('staged ' + c);
if (action === 'commit') await tx.commit();
setInterval(() => {}, 1000);`;

function runChild(repo: string, action: 'hang' | 'commit', env: Record<string, string> = {}): Promise<{ commit: string; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, repo, action], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (action === 'hang' && out.includes('\n')) child.kill('SIGKILL');
    });
    child.on('exit', (_code, signal) => {
      const m = /staged ([0-9a-f]{64})/.exec(out);
      if (!m) reject(new Error(`child did not stage: ${out} ${err}`));
      else resolve({ commit: m[1]!, signal });
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

  it('a transaction killed after linking objects but before the refs leaves no ref moved; prune collects the objects', async () => {
    const { commit, signal } = await runChild(repo.path, 'commit', { ATOMIC_FAULT: 'store:commit:after-link' });
    assert.equal(signal, 'SIGKILL');
    assert.equal(await repo.resolveRef('main'), main);
    assert.equal(await repo.hasObject(commit as Checksum, 'commit'), true);
    assert.match(ostree(['fsck', `--repo=${repo.path}`]), /no errors found/);
    const r = await repo.prune();
    assert.equal(r.objectsDeleted, 50 + 1 + 1, 'the 50 files, the dirtree and the commit (dirmeta is shared)');
    assert.equal(await repo.hasObject(commit as Checksum, 'commit'), false);
    assert.deepEqual(await repo.verifyCommit(main), []);
    assert.deepEqual(stagingDirs(), [], 'prune sweeps stale staging too');
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
