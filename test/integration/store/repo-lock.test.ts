import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { acquireRepoLock, processStartTime } from '../../../src/store/repo-lock.js';
import { makeTempDir, PROJECT_ROOT } from '../../helpers/fixtures.js';

const LOCK_JS = path.join(PROJECT_ROOT, 'dist/src/store/repo-lock.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

/** Resolves when the child prints `line`. */
function waitLine(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes(line)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`child exited (${code}) before "${line}": ${buf}`)));
  });
}

describe('store/repo-lock', function () {
  this.timeout(30_000);
  let repo: string;
  const lockDir = () => path.join(repo, '.atomic-lock.d');
  beforeEach(() => {
    repo = makeTempDir('atomic-lock-');
  });
  afterEach(() => fs.rmSync(repo, { recursive: true, force: true }));

  it('grants concurrent shared locks (re-entrant within a process) and cleans up on the last release', async () => {
    const [a, b] = await Promise.all([acquireRepoLock(repo, 'shared', { timeoutMs: 1000 }), acquireRepoLock(repo, 'shared', { timeoutMs: 1000 })]);
    assert.equal(fs.readdirSync(lockDir()).filter((n) => n.startsWith('shared-')).length, 1, 'one holder file per process');
    await a.release();
    await a.release(); // idempotent
    assert.equal(fs.readdirSync(lockDir()).length, 1, 'still held by b');
    await b.release();
    assert.deepEqual(fs.readdirSync(lockDir()), []);
  });

  it('makes an exclusive locker wait for shared holders, and new shared lockers wait for it', async () => {
    const shared = await acquireRepoLock(repo, 'shared');
    let exclusiveAt = 0;
    const excl = acquireRepoLock(repo, 'exclusive', { timeoutMs: 10_000 }).then((l) => ((exclusiveAt = Date.now()), l));
    await sleep(300);
    assert.equal(exclusiveAt, 0, 'exclusive granted while a shared lock is held');
    // another process's new shared lock waits behind the pending exclusive (no writer starvation);
    // this process's own re-entrant shared lock does not (it would deadlock on itself)
    const script = `import { acquireRepoLock } from ${JSON.stringify(LOCK_JS)};
      const l = await acquireRepoLock(process.argv[1], 'shared', { timeoutMs: 10000 }); console.log('shared-granted'); await l.release();`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, repo], { stdio: ['ignore', 'pipe', 'inherit'] });
    let sharedAt = 0;
    const childGranted = waitLine(child, 'shared-granted').then(() => (sharedAt = Date.now()));
    await sleep(400);
    assert.equal(sharedAt, 0, 'a new shared lock of another process must wait behind a pending exclusive');
    const again = await acquireRepoLock(repo, 'shared', { timeoutMs: 1000 });
    await again.release();
    const releasedAt = Date.now();
    await shared.release();
    const x = await excl;
    assert.ok(exclusiveAt >= releasedAt);
    await sleep(200);
    assert.equal(sharedAt, 0, 'shared granted while exclusive held');
    await x.release();
    await childGranted;
    assert.ok(sharedAt >= exclusiveAt);
  });

  it('takes over a stale exclusive lock from a dead pid or a reused pid', async () => {
    fs.mkdirSync(lockDir());
    fs.writeFileSync(path.join(lockDir(), 'exclusive'), `${deadPid()} 12345 deadbeef\n`);
    fs.writeFileSync(path.join(lockDir(), `shared-1-x`), `${deadPid()} 1 cafe\n`);
    const l = await acquireRepoLock(repo, 'exclusive', { timeoutMs: 2000 });
    assert.equal(fs.readFileSync(path.join(lockDir(), 'exclusive'), 'utf8').split(' ')[0], String(process.pid));
    assert.ok(!fs.existsSync(path.join(lockDir(), 'shared-1-x')), 'stale shared holder removed');
    await l.release();
    // our own pid with a different start time = a reused pid
    fs.writeFileSync(path.join(lockDir(), 'exclusive'), `${process.pid} 1 feed\n`);
    const s = await acquireRepoLock(repo, 'shared', { timeoutMs: 2000 });
    await s.release();
    assert.deepEqual(fs.readdirSync(lockDir()), []);
  });

  it('times out with LOCK_BUSY naming the repo and the holder pid', async () => {
    const holder = spawn('sleep', ['30']);
    try {
      await sleep(50);
      fs.mkdirSync(lockDir());
      fs.writeFileSync(path.join(lockDir(), 'exclusive'), `${holder.pid} ${processStartTime(holder.pid!)} abc\n`);
      const t0 = Date.now();
      await assert.rejects(acquireRepoLock(repo, 'shared', { timeoutMs: 300 }), (e: { code?: string; message: string; suggestions: string[] }) => {
        assert.equal(e.code, 'LOCK_BUSY');
        assert.ok(e.message.includes(repo) && e.message.includes(String(holder.pid)), e.message);
        assert.ok(e.suggestions.some((s) => s.includes(String(holder.pid))));
        return true;
      });
      assert.ok(Date.now() - t0 >= 300);
      process.env.ATOMIC_LOCK_TIMEOUT = '0.2';
      await assert.rejects(acquireRepoLock(repo, 'exclusive'), (e: { code?: string }) => e.code === 'LOCK_BUSY');
    } finally {
      delete process.env.ATOMIC_LOCK_TIMEOUT;
      holder.kill('SIGKILL');
    }
  });

  it('excludes across processes and releases a lock when its process exits', async () => {
    const script = `import { acquireRepoLock } from ${JSON.stringify(LOCK_JS)};
      const l = await acquireRepoLock(process.argv[1], 'exclusive');
      console.log('locked');
      setTimeout(() => process.exit(0), 500);`; // exits without release(): the exit hook must clean up
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, repo], { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitLine(child, 'locked');
    const t0 = Date.now();
    const l = await acquireRepoLock(repo, 'shared', { timeoutMs: 5000 });
    assert.ok(Date.now() - t0 >= 300, 'shared lock granted while the child held exclusive');
    await l.release();
    assert.deepEqual(fs.readdirSync(lockDir()), []);
  });

  it('takes over the lock of a SIGKILLed process', async () => {
    const script = `import { acquireRepoLock } from ${JSON.stringify(LOCK_JS)};
      await acquireRepoLock(process.argv[1], 'exclusive'); console.log('locked'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, repo], { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitLine(child, 'locked');
    await assert.rejects(acquireRepoLock(repo, 'shared', { timeoutMs: 200 }), (e: { code?: string }) => e.code === 'LOCK_BUSY');
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const l = await acquireRepoLock(repo, 'exclusive', { timeoutMs: 2000 });
    await l.release();
  });
});
