/**
 * The "disk" row of an update whose large file is unchanged (bench/run.ts `--only=large`): two
 * one-layer images built by umoci (cached in $ATOMIC_BENCH_DIR/oci-large), v1 with a 64 MiB
 * random /usr/bin/big and a 1 MiB random /etc/data, v2 with the same big file and a new
 * /etc/data; `atomic pull` of v1, then of v2 (same repository name) into the same store. Bytes
 * written are the kernel's: GNU time's %O (getrusage ru_oublock of the pull, 512-byte units:
 * every page the process dirtied, including those of a temporary file deleted before writeback).
 * The anchor is the bytes of the changed file; the same pull with the compare off
 * (ATOMIC_LARGE_DEDUP=0, what every pull did before) is printed beside it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BENCH_DIR } from './images.js';
import { fmtS, median, rmrf, syncAll } from './lib.js';

const BIG = 64 * 1024 * 1024;
const CHANGED = 1024 * 1024;

function ensureLargeLayout(): string {
  const dir = path.join(BENCH_DIR, 'oci-large');
  if (fs.existsSync(path.join(dir, 'index.json'))) return dir;
  const tmp = `${dir}.tmp`;
  rmrf(tmp);
  const run = (args: string[]) => execFileSync('umoci', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  run(['init', '--layout', tmp]);
  run(['new', '--image', `${tmp}:empty`]);
  const big = randomBytes(BIG);
  for (const tag of ['v1', 'v2']) {
    const b = path.join(BENCH_DIR, `oci-large-${tag}`);
    rmrf(b);
    run(['unpack', '--image', `${tmp}:empty`, b]);
    fs.mkdirSync(path.join(b, 'rootfs', 'usr', 'bin'), { recursive: true });
    fs.mkdirSync(path.join(b, 'rootfs', 'etc'), { recursive: true });
    fs.writeFileSync(path.join(b, 'rootfs', 'usr', 'bin', 'big'), big, { mode: 0o755 });
    fs.writeFileSync(path.join(b, 'rootfs', 'etc', 'data'), randomBytes(CHANGED));
    run(['repack', '--image', `${tmp}:${tag}`, b]);
    rmrf(b);
  }
  fs.renameSync(tmp, dir);
  return dir;
}

/** `atomic pull` under GNU time: wall seconds and bytes the process wrote (ru_oublock). */
function pullIo(bin: string, src: string, name: string, env: NodeJS.ProcessEnv): { s: number; bytes: number } {
  const r = spawnSync('/usr/bin/time', ['-f', '@@IO %e %O', bin, 'pull', '--storage', 'ostree', '--name', name, src], { encoding: 'utf8', env, maxBuffer: 64 << 20 });
  const m = /@@IO ([0-9.]+) ([0-9]+)\s*$/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) throw new Error(`atomic pull ${src} failed (status ${r.status}): ${(r.stderr ?? '').slice(-2000)}`);
  return { s: Number(m[1]), bytes: Number(m[2]) * 512 };
}

type RowFn = (section: string, what: string, ours: string, anchor: string, anchorValue: string, ratio: number | null, target: string, limit: number | null) => void;

export function benchLargeFile(work: string, bin: string, runs: number, storeEnv: (dir: string) => NodeJS.ProcessEnv, row: RowFn, json: Record<string, number | null>): void {
  const layout = ensureLargeLayout();
  const on: number[] = [];
  const off: number[] = [];
  const ton: number[] = [];
  const toff: number[] = [];
  for (let i = -1; i < runs; i++) {
    const one = (dedup: boolean) => {
      const w = fs.mkdtempSync(path.join(work, 'large-'));
      const env = storeEnv(w);
      pullIo(bin, `oci:${layout}:v1`, 'bench/large:v1', env);
      syncAll();
      const r = pullIo(bin, `oci:${layout}:v2`, 'bench/large:v2', dedup ? env : { ...env, ATOMIC_LARGE_DEDUP: '0' });
      rmrf(w);
      return r;
    };
    let a;
    let b;
    if (i % 2 === 0) {
      a = one(true);
      b = one(false);
    } else {
      b = one(false);
      a = one(true);
    }
    console.log(
      `  large file ${i < 0 ? 'warm-up' : `run ${i + 1}`}: update pull writes ${(a.bytes / 1048576).toFixed(2)} MiB in ${fmtS(a.s)}; with the compare off ${(b.bytes / 1048576).toFixed(2)} MiB in ${fmtS(b.s)}`,
    );
    if (i < 0) continue;
    on.push(a.bytes);
    off.push(b.bytes);
    ton.push(a.s);
    toff.push(b.s);
  }
  const [m, mo] = [median(on), median(off)];
  const what = `bytes written by an update pull whose ${BIG / 1048576} MiB file is unchanged`;
  row('disk', what, `${(m / 1048576).toFixed(2)} MiB`, 'changed files', `${(CHANGED / 1048576).toFixed(2)} MiB`, m / CHANGED, '', null);
  row('disk', `${what}, compare off (before)`, `${(mo / 1048576).toFixed(2)} MiB`, 'changed files', `${(CHANGED / 1048576).toFixed(2)} MiB`, mo / CHANGED, '', null);
  json.large_update_bytes_vs_changed = m / CHANGED;
  json.large_update_bytes_vs_changed_compare_off = mo / CHANGED;
  json.large_update_pull_s = median(ton);
  json.large_update_pull_compare_off_s = median(toff);
}
