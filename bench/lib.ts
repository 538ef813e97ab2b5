/** Shared helpers of the benchmark (bench/run.ts): timing child processes, medians, the table. */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface Timed {
  /** Wall seconds. */
  s: number;
  /** Peak RSS of the process, MiB (GNU time's %M). */
  rssMiB: number;
  stdout: string;
}

/** Run CMD under GNU time: wall time and peak RSS of the command itself; throws on failure. */
export function timed(cmd: string, args: string[], opts: SpawnSyncOptions = {}): Timed {
  const r = spawnSync('/usr/bin/time', ['-f', '@@TIME %e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  return parseTime(r, `${cmd} ${args.join(' ')}`);
}

export function parseTime(r: ReturnType<typeof spawnSync>, what: string): Timed {
  const err = String(r.stderr ?? '');
  const m = /@@TIME ([0-9.]+) ([0-9]+)\s*$/.exec(err);
  if (r.status !== 0 || !m) throw new Error(`${what.slice(0, 300)} failed (status ${r.status}): ${err.slice(-2000)}`);
  return { s: Number(m[1]), rssMiB: Number(m[2]) / 1024, stdout: String(r.stdout ?? '') };
}

/** Wall seconds of a child process measured from here (spawn included: the same for every side). */
export function wall(cmd: string, args: string[], opts: SpawnSyncOptions = {}): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: 'ignore', ...opts });
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (status ${r.status})`);
  return s;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Bytes of the files below DIR (hard links counted once), as du -sb. */
export function duBytes(dir: string): number {
  const r = spawnSync('du', ['-sb', dir], { encoding: 'utf8' });
  return Number((r.stdout ?? '0').split('\t')[0]);
}

export function syncAll(): void {
  spawnSync('sync');
}

export interface Row {
  section: string;
  what: string;
  ours: string;
  anchor: string;
  anchorValue: string;
  ratio: number | null;
  target: string;
  met: boolean | null;
}

export function fmtS(s: number): string {
  return Number.isFinite(s) ? `${s.toFixed(s < 1 ? 3 : 2)} s` : 'n/a';
}

export function printTable(rows: Row[]): void {
  const head = ['figure', 'atomic', 'anchor', 'anchor value', 'ratio', 'target', 'met'];
  const cells = rows.map((r) => [`${r.section}: ${r.what}`, r.ours, r.anchor, r.anchorValue, r.ratio === null ? '' : `${r.ratio.toFixed(2)}x`, r.target, r.met === null ? '' : r.met ? 'yes' : 'NO']);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(w[i])).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`);
  for (const c of cells) console.log(line(c));
}

export function loadAverage(): string {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}

export function rmrf(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
}
