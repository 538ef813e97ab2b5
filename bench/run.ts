/**
 * npm run bench: layer import and checkout of a real Debian root filesystem, next to the real
 * ostree on the same tar in the same run (`ostree commit --tree=tar=` and `ostree checkout -H`).
 * Prints times, ratios (ours / ostree; target <= 1.0) and our peak RSS.
 *
 * The tar is built once with `mmdebstrap --variant=minbase --skip=output/dev bookworm` (no device nodes: ostree refuses them) and cached in
 * $ATOMIC_BENCH_DIR (default /tmp/atomic-bench). Runs: $ATOMIC_BENCH_RUNS (default 5), median.
 *
 * Methodology: one untimed warm-up round of both sides (page cache of the tar, lazily loaded
 * code), then the timed rounds, alternating which side goes first. Every round works in its own
 * directory and all of them are removed only at the end: deleting ~20k inodes between rounds
 * made whichever side ran next pay for it (ext4 without a journal skips recently deleted inodes
 * on every allocation, which made file creation 10-20x slower for a minute or more).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { OstreeRepo } from '../src/store/repo.js';
import { importLayerTar } from '../src/store/layer-import.js';
import { checkoutLayers } from '../src/store/checkout.js';
import type { Checksum } from '../src/store/types.js';

const BENCH_DIR = process.env.ATOMIC_BENCH_DIR ?? '/tmp/atomic-bench';
const RUNS = Number(process.env.ATOMIC_BENCH_RUNS ?? 5);
const TAR = path.join(BENCH_DIR, 'debian-minbase.tar');
const OSTREE_ENV = { ...process.env, LC_ALL: 'C.UTF-8' };

function ensureTar(): void {
  if (fs.existsSync(TAR)) return;
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  console.log(`building ${TAR} with mmdebstrap (once)...`);
  execFileSync('mmdebstrap', ['--variant=minbase', '--skip=output/dev', 'bookworm', `${TAR}.partial.tar`], { stdio: 'inherit' });
  fs.renameSync(`${TAR}.partial.tar`, TAR);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function dropCaches(): void {
  spawnSync('sync');
}

async function ours(work: string): Promise<{ importMs: number; checkoutMs: number }> {
  const repo = await OstreeRepo.openOrCreate(path.join(work, 'repo-ours'), 'bare');
  dropCaches();
  let t = performance.now();
  const tx = await repo.beginTransaction();
  const r = await importLayerTar(tx, fs.createReadStream(TAR), { onWarning: () => undefined });
  const commit = await tx.writeCommit({ metadata: [], parent: null, related: [], subject: '', body: '', timestamp: Math.floor(Date.now() / 1000), rootTree: r.rootTree, rootMeta: r.rootMeta });
  tx.setRef('bench', commit);
  await tx.commit();
  const importMs = performance.now() - t;
  dropCaches();
  t = performance.now();
  await checkoutLayers(repo, [commit as Checksum], path.join(work, 'co-ours'));
  const checkoutMs = performance.now() - t;
  // cost of checkout verification (src/store/object-verify.ts): the first checkout above hashed
  // every object; a second one only stats them (markers); a third skips verification entirely
  t = performance.now();
  await checkoutLayers(repo, [commit as Checksum], path.join(work, 'co-ours-marked'));
  const markedMs = performance.now() - t;
  t = performance.now();
  await checkoutLayers(repo, [commit as Checksum], path.join(work, 'co-ours-noverify'), { verify: false });
  const noVerifyMs = performance.now() - t;
  verifyCost.push({ firstMs: checkoutMs, markedMs, noVerifyMs });
  return { importMs, checkoutMs };
}

const verifyCost: Array<{ firstMs: number; markedMs: number; noVerifyMs: number }> = [];

function ostree(work: string): { importMs: number; checkoutMs: number } {
  const repo = path.join(work, 'repo-ostree');
  execFileSync('ostree', ['init', `--repo=${repo}`, '--mode=bare'], { env: OSTREE_ENV });
  dropCaches();
  let t = performance.now();
  execFileSync('ostree', ['commit', `--repo=${repo}`, '-b', 'bench', `--tree=tar=${TAR}`, '--no-bindings'], { env: OSTREE_ENV, stdio: ['ignore', 'ignore', 'inherit'] });
  const importMs = performance.now() - t;
  dropCaches();
  t = performance.now();
  execFileSync('ostree', ['checkout', `--repo=${repo}`, '-H', 'bench', path.join(work, 'co-ostree')], { env: OSTREE_ENV });
  const checkoutMs = performance.now() - t;
  return { importMs, checkoutMs };
}

async function main(): Promise<void> {
  ensureTar();
  const size = fs.statSync(TAR).size;
  const files = Number(execFileSync('sh', ['-c', `tar -tf ${TAR} | wc -l`], { encoding: 'utf8' }).trim());
  console.log(`input: ${TAR} (${(size / 1048576).toFixed(1)} MiB, ${files} entries), ${RUNS} run(s) each, median`);
  const o: Array<{ importMs: number; checkoutMs: number }> = [];
  const s: Array<{ importMs: number; checkoutMs: number }> = [];
  let peakRss = 0;
  const timer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  const works: string[] = [];
  const f2 = (ms: number) => (ms / 1000).toFixed(2);
  try {
    for (let i = -1; i < RUNS; i++) {
      const work = fs.mkdtempSync(path.join(BENCH_DIR, 'run-'));
      works.push(work);
      // alternate the order so neither side always gets the warm cache; round -1 is the warm-up
      let a: { importMs: number; checkoutMs: number };
      let b: { importMs: number; checkoutMs: number };
      if (i % 2 === 0) {
        b = ostree(work);
        a = await ours(work);
      } else {
        a = await ours(work);
        b = ostree(work);
      }
      const tag = i < 0 ? 'warm-up' : `run ${i + 1}`;
      console.log(`${tag.padEnd(8)} import ${f2(a.importMs)} s vs ${f2(b.importMs)} s, checkout ${f2(a.checkoutMs)} s vs ${f2(b.checkoutMs)} s (atomic vs ostree; ${i % 2 === 0 ? 'ostree' : 'atomic'} first)`);
      if (i < 0) continue;
      o.push(a);
      s.push(b);
    }
  } finally {
    for (const w of works) fs.rmSync(w, { recursive: true, force: true });
  }
  clearInterval(timer);
  const oi = median(o.map((x) => x.importMs));
  const si = median(s.map((x) => x.importMs));
  const oc = median(o.map((x) => x.checkoutMs));
  const sc = median(s.map((x) => x.checkoutMs));
  const f = (ms: number) => `${(ms / 1000).toFixed(2)} s`.padStart(9);
  console.log('');
  console.log('step       atomic     ostree   ratio (target <= 1.00)');
  console.log(`import  ${f(oi)}  ${f(si)}   ${(oi / si).toFixed(2)}x`);
  console.log(`checkout${f(oc)}  ${f(sc)}   ${(oc / sc).toFixed(2)}x`);
  const vc = verifyCost.slice(1); // without the warm-up
  console.log(
    `checkout verification: first checkout (hashes every object) ${f(median(vc.map((x) => x.firstMs)))}, ` +
      `later checkouts (verified markers) ${f(median(vc.map((x) => x.markedMs)))}, without verification ${f(median(vc.map((x) => x.noVerifyMs)))}`,
  );
  console.log(`peak RSS of atomic's process: ${(peakRss / 1048576).toFixed(0)} MiB (layer: ${(size / 1048576).toFixed(0)} MiB)`);
}

await main();
