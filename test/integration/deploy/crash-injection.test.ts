/**
 * Crash injection for pull, install, update, rollback, uninstall, images prune and images delete: the command is SIGKILLed
 * (1) at every step boundary (each fault point it reaches, enumerated with ATOMIC_FAULT_TRACE and
 * hit with ATOMIC_FAULT_AT=n), and (2) at random times: after a delay drawn from a seeded PRNG
 * (mulberry32; seed ATOMIC_CRASH_SEED, default below, printed with the totals) over the command's
 * measured run time. After each kill, once atomic has looked at it (any command replays the
 * journal of an interrupted operation), the container must be entirely old or entirely new (or
 * absent), a pulled image complete or absent; the real `ostree fsck` must pass, and re-running the
 * same command must succeed and leave a consistent deployment. Runs go two (ATOMIC_CRASH_JOBS) at
 * a time, each in its own scratch sysroot.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { fixtureImages, makeTempDir, BIN } from '../../helpers/fixtures.js';
import { atomicSysroot, type CliResult } from '../../helpers/cli.js';
import { deployState, CK } from '../../helpers/deploy-state.js';

interface Scenario {
  op: string;
  setup: string[][];
  command: string[];
  /** state after the re-run ('images': no container; the images left must verify) */
  final: 'installed' | 'absent' | 'pulled' | 'images';
  /** images that must still verify after each kill and after the re-run */
  keepImages?: string[];
  /** images that must be gone after the re-run */
  goneImages?: string[];
  /** random-time kills of this scenario */
  randomKills: number;
}

const NAME = 'crash';
const SEED = Number(process.env.ATOMIC_CRASH_SEED ?? 20261122);
const JOBS = Math.max(1, Number(process.env.ATOMIC_CRASH_JOBS ?? 2));
const RANDOM_KILLS = Number(process.env.ATOMIC_CRASH_RANDOM ?? 14);

function scenarios(fx: string): Scenario[] {
  return [
    { op: 'pull', setup: [], command: ['pull', `oci:${fx}/oci:systest-update`], final: 'pulled', randomKills: RANDOM_KILLS },
    { op: 'install', setup: [], command: ['install', '--system', '--name', NAME, '--set', 'RECEIVER=Crash', 'systest'], final: 'installed', randomKills: RANDOM_KILLS },
    // install of an image that is not in the store yet: pull + deploy in one command
    { op: 'install (pulls)', setup: [], command: ['install', '--system', '--name', NAME, `oci:${fx}/oci-zstd:systest`], final: 'installed', randomKills: RANDOM_KILLS },
    { op: 'update', setup: [['install', '--system', '--name', NAME, 'systest']], command: ['containers', 'update', '--set', 'PORT=9009', NAME], final: 'installed', randomKills: RANDOM_KILLS },
    {
      op: 'update --rebase',
      setup: [['install', '--system', '--name', NAME, 'systest']],
      command: ['containers', 'update', '--rebase', 'systest-update', NAME],
      final: 'installed',
      randomKills: RANDOM_KILLS,
    },
    {
      op: 'rollback',
      setup: [['install', '--system', '--name', NAME, 'systest'], ['containers', 'update', '--set', 'PORT=9010', NAME]],
      command: ['containers', 'rollback', NAME],
      final: 'installed',
      randomKills: RANDOM_KILLS,
    },
    // an option record change deploys a new slot; the host record file and the drop-in go with it
    { op: 'config', setup: [['install', '--system', '--name', NAME, 'systest']], command: ['containers', 'config', NAME, 'MaxMemory=256', 'cpu=50'], final: 'installed', randomKills: RANDOM_KILLS },
    {
      op: 'rollback (option record)',
      setup: [['install', '--system', '--name', NAME, '--option', 'MaxMemory=128', 'systest'], ['containers', 'config', NAME, 'MaxMemory=512', 'cpu=25']],
      command: ['containers', 'rollback', NAME],
      final: 'installed',
      randomKills: RANDOM_KILLS,
    },
    { op: 'uninstall', setup: [['install', '--system', '--name', NAME, 'systest']], command: ['uninstall', NAME], final: 'absent', randomKills: RANDOM_KILLS },
    // the store's own deletions: an image deleted by name, then its layers pruned while a
    // container still uses another image (its layers must survive every kill)
    {
      op: 'images prune',
      setup: [['install', '--system', '--name', NAME, 'systest'], ['images', 'delete', '-y', 'systest-update']],
      command: ['images', 'prune'],
      final: 'installed',
      keepImages: ['systest'],
      randomKills: RANDOM_KILLS,
    },
    { op: 'images delete', setup: [], command: ['images', 'delete', '-y', 'systest-update', 'systest'], final: 'images', goneImages: ['systest', 'systest-update'], randomKills: RANDOM_KILLS },
  ];
}

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fsck(repo: string): string | null {
  try {
    execFileSync('ostree', ['fsck', '--quiet', `--repo=${repo}`], { env: { ...process.env, LC_ALL: 'C.UTF-8' }, stdio: ['ignore', 'ignore', 'pipe'] });
    return null;
  } catch (e) {
    return (e as { stderr?: Buffer }).stderr?.toString() ?? String(e);
  }
}

/** The CLI against a scratch sysroot, asynchronously; SIGKILLed after `killAfterMs` when given. */
function atomicAsync(sysroot: string, args: string[], extra: Record<string, string> = {}, killAfterMs?: number): Promise<CliResult & { killed: boolean; ms: number }> {
  const env: NodeJS.ProcessEnv = { ...process.env, ATOMIC_SYSROOT: sysroot, ...extra };
  for (const k of ['ATOMIC_OSTREE_REPO', 'ATOMIC_OSTREE_CHECKOUT_PATH', 'ATOMIC_CONF']) delete env[k];
  return new Promise((resolve) => {
    const t0 = Date.now();
    const c = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => {
      killed = c.kill('SIGKILL');
    }, killAfterMs);
    const guard = setTimeout(() => c.kill('SIGKILL'), 120_000);
    c.on('close', (code, sig) => {
      clearTimeout(timer);
      clearTimeout(guard);
      resolve({ status: code ?? (sig === 'SIGKILL' ? 137 : 128), stdout, stderr, killed: killed && sig === 'SIGKILL', ms: Date.now() - t0 });
    });
  });
}

async function pool<T>(items: T[], jobs: number, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(jobs, items.length) }, async () => {
      while (next < items.length) await f(items[next++]);
    }),
  );
}

describe('crash injection: every step and random times of pull/install/update/rollback/config/uninstall/images prune/images delete', function () {
  this.timeout(1_800_000);
  let work: string;
  let base: string;
  let fx: string;
  const totals = { stepKills: 0, randomKills: 0, randomFinished: 0, runs: 0, failures: 0, uninitialisedStores: 0 };

  before(() => {
    fx = fixtureImages();
    work = makeTempDir('atomic-crash-');
    base = path.join(work, 'base');
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(base, d), { recursive: true });
    for (const src of ['systest', 'systest-update']) {
      const r = atomicSysroot(base, ['pull', `oci:${fx}/oci:${src}`]);
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(() => {
    fs.rmSync(work, { recursive: true, force: true });
    const kills = totals.stepKills + totals.randomKills;
    console.log(
      `      crash injection (seed ${SEED}): ${kills} kills = ${totals.stepKills} at step boundaries + ${totals.randomKills} at random times ` +
        `(${totals.randomFinished} random runs finished before their kill time); ${totals.runs} runs checked, ${totals.failures} failures; ` +
        `${totals.uninitialisedStores} kills left a store directory without its config (killed while the store was being created)`,
    );
  });

  /** Check one killed run's sysroot, then re-run the command and check again. */
  async function checkAndRerun(root: string, sc: Scenario, where: string, failures: string[]): Promise<void> {
    // what a user sees through atomic: any command repairs an interrupted operation first
    const look = await atomicAsync(root, ['containers', 'list', '-a', '-q']);
    if (look.status !== 0) failures.push(`${where}: containers list failed: ${look.stderr}`);
    const st = deployState(root, NAME);
    if (st.problems.length) failures.push(`${where}: inconsistent: ${st.problems.join('; ')}`);
    const repoDir = path.join(root, CK, '.storage', 'ostree');
    if (!fs.existsSync(path.join(repoDir, 'config'))) {
      // killed before the store existed: there is no store to check. The store is created beside
      // its final place and renamed in, so a store directory without `config` must never be seen
      if (fs.existsSync(repoDir)) {
        totals.uninitialisedStores++;
        failures.push(`${where}: ${repoDir} exists without its config (the real ostree cannot open it)`);
      }
    } else {
      const bad = fsck(repoDir);
      if (bad !== null) failures.push(`${where}: ostree fsck failed: ${bad}`);
    }
    for (const img of sc.keepImages ?? []) {
      const v = await atomicAsync(root, ['images', 'verify', img]);
      if (v.status !== 0) failures.push(`${where}: images verify ${img} after the kill: ${v.stderr}`);
    }
    if (sc.final === 'images') {
      const l = await atomicAsync(root, ['images', 'list']);
      if (l.status !== 0) failures.push(`${where}: images list after the kill: ${l.stderr}`);
    }
    if (sc.final === 'pulled') {
      // the image is complete (its ref resolves to a verifiable image) or absent
      const info = await atomicAsync(root, ['images', 'info', 'systest-update']);
      if (info.status !== 0 && !/not found|No such|IMAGE_NOT_FOUND|does not exist/i.test(info.stderr)) failures.push(`${where}: images info: ${info.status} ${info.stderr}`);
    }
    let command = sc.command;
    if (sc.op === 'images delete') {
      // the kill may have deleted some of them already: delete the others (atomic refuses an unknown image)
      const left: string[] = [];
      for (const img of sc.goneImages ?? []) if ((await atomicAsync(root, ['images', 'info', img])).status === 0) left.push(img);
      command = left.length ? ['images', 'delete', '-y', ...left] : ['images', 'list'];
    }
    const again = await atomicAsync(root, command);
    // an uninstall that had completed before the kill: atomic's "Unable to find" (exit 1) on the re-run
    const alreadyGone = sc.op === 'uninstall' && again.status === 1 && again.stderr.includes(`Unable to find '${NAME}'`) && deployState(root, NAME).kind === 'absent';
    if (again.status !== 0 && !alreadyGone) failures.push(`${where}: re-run failed (${again.status}): ${again.stderr}`);
    if (sc.final === 'pulled') {
      const v = await atomicAsync(root, ['images', 'verify', 'systest-update']);
      if (v.status !== 0) failures.push(`${where}: images verify after re-run: ${v.stderr}`);
      const bad2 = fsck(path.join(root, CK, '.storage', 'ostree'));
      if (bad2 !== null) failures.push(`${where}: ostree fsck after re-run failed: ${bad2}`);
    } else {
      const fin = deployState(root, NAME);
      const want = sc.final === 'images' ? 'absent' : sc.final;
      if (fin.problems.length || fin.kind !== want) failures.push(`${where}: after re-run: ${fin.kind} ${fin.problems.join('; ')}`);
      if (sc.final === 'images' || sc.op === 'images prune') {
        const bad2 = fsck(path.join(root, CK, '.storage', 'ostree'));
        if (bad2 !== null) failures.push(`${where}: ostree fsck after re-run failed: ${bad2}`);
      }
    }
    for (const img of sc.keepImages ?? []) {
      const v = await atomicAsync(root, ['images', 'verify', img]);
      if (v.status !== 0) failures.push(`${where}: images verify ${img} after re-run: ${v.stderr}`);
    }
    for (const img of sc.goneImages ?? []) {
      const v = await atomicAsync(root, ['images', 'info', img]);
      if (v.status === 0) failures.push(`${where}: image ${img} still there after re-run`);
    }
    if (fs.existsSync(path.join(root, CK, '.atomic', 'journal', `${NAME}.json`))) failures.push(`${where}: journal left behind after re-run`);
    totals.runs++;
  }

  const names = ['pull', 'install', 'install (pulls)', 'update', 'update --rebase', 'rollback', 'config', 'rollback (option record)', 'uninstall', 'images prune', 'images delete'];
  for (const [idx, op] of names.entries()) {
    it(`${op}: killed at each step and at random times, then consistent and re-runnable`, async () => {
      const sc = scenarios(fx).find((s) => s.op === op)!;
      const tmpl = path.join(work, `tmpl-${idx}`);
      if (sc.op === 'pull' || sc.op === 'install (pulls)') {
        // a sysroot whose store does not have the image yet
        fs.mkdirSync(tmpl);
        for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(tmpl, d), { recursive: true });
        if (sc.op === 'pull') assert.equal(atomicSysroot(tmpl, ['pull', `oci:${fx}/oci:systest`]).status, 0); // shares the base layer
      } else {
        execFileSync('cp', ['-a', base, tmpl]);
      }
      for (const s of sc.setup) {
        const r = atomicSysroot(tmpl, s);
        assert.equal(r.status, 0, `${s.join(' ')}: ${r.stderr}`);
      }
      // enumerate the step boundaries of the command, and time it
      const traceRoot = path.join(work, `trace-root-${idx}`);
      execFileSync('cp', ['-a', tmpl, traceRoot]);
      const trace = path.join(work, `trace-${idx}.txt`);
      const ok = await atomicAsync(traceRoot, sc.command, { ATOMIC_FAULT_TRACE: trace });
      assert.equal(ok.status, 0, ok.stderr);
      if (sc.op === 'images prune') assert.match(ok.stdout, /Deleting ociimage\//, 'the prune must have something to delete');
      const durationMs = ok.ms;
      fs.rmSync(traceRoot, { recursive: true, force: true });
      const points = fs.readFileSync(trace, 'utf8').trim().split('\n');
      assert.ok(points.length >= (sc.op === 'images delete' ? 2 : 5), `expected several step boundaries, got ${points.join(',')}`);

      const rand = mulberry32(SEED + idx * 7919);
      type Job = { kind: 'step'; i: number } | { kind: 'random'; i: number; delay: number };
      const jobs: Job[] = [
        ...points.map((_, k) => ({ kind: 'step' as const, i: k + 1 })),
        ...Array.from({ length: sc.randomKills }, (_, k) => ({ kind: 'random' as const, i: k + 1, delay: Math.floor(rand() * durationMs * 1.1) })),
      ];
      const failures: string[] = [];
      let n = 0;
      await pool(jobs, JOBS, async (job) => {
        const root = path.join(work, `run-${idx}-${n++}`);
        execFileSync('cp', ['-a', tmpl, root]);
        let where: string;
        if (job.kind === 'step') {
          where = `${sc.op} killed at step ${job.i} (${points[job.i - 1]})`;
          const killed = await atomicAsync(root, sc.command, { ATOMIC_FAULT_AT: String(job.i) });
          totals.stepKills++;
          if (killed.status !== 137) failures.push(`${where}: expected SIGKILL, got ${killed.status} ${killed.stderr}`);
        } else {
          where = `${sc.op} killed after ${job.delay} ms (random #${job.i}, seed ${SEED})`;
          const r = await atomicAsync(root, sc.command, {}, job.delay);
          if (r.killed) totals.randomKills++;
          else {
            totals.randomFinished++;
            if (r.status !== 0) failures.push(`${where}: finished before the kill with ${r.status}: ${r.stderr}`);
          }
        }
        await checkAndRerun(root, sc, where, failures);
        fs.rmSync(root, { recursive: true, force: true });
      });
      totals.failures += failures.length;
      assert.deepEqual(failures, []);
    });
  }
});
