/**
 * `containers rollback --dry-run NAME`: what a rollback would change, without changing anything (no
 * lock file, no journal, no recovery): the unified diff of the unit, config.json and tmpfiles.d file
 * between what is live and the deployment the rollback returns to, and the value changes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { AppContext } from '../context.js';
import { containerPaths, currentSlot, otherSlot, slotUnitCopy, slotTmpfilesCopy, containerNotInstalled } from '../../deploy/layout.js';
import { readInfo } from '../../deploy/info-file.js';
import { validateContainerName } from '../../deploy/container-name.js';
import { AtomicError } from '../../util/errors.js';

/** `diff -u` of two files (a missing one counts as empty); '' when equal. */
export function unifiedDiff(from: string, to: string, fromLabel: string, toLabel: string): string {
  const f = fs.existsSync(from) ? from : '/dev/null';
  const t = fs.existsSync(to) ? to : '/dev/null';
  const r = spawnSync('diff', ['-u', '--label', fromLabel, '--label', toLabel, f, t], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.status === 0) return '';
  if (r.status === 1) return r.stdout;
  throw new AtomicError('IO', `diff -u ${from} ${to} failed: ${(r.stderr || r.error?.message || '').trim()}`, { suggestions: ['Install diffutils.'] });
}

export function valueChanges(before: Record<string, string>, after: Record<string, string>): string[] {
  const out: string[] = [];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const show = (v: string | undefined): string => (v === undefined ? '(unset)' : v.includes('\n') ? `(${v.split('\n').filter(Boolean).length} lines)` : JSON.stringify(v));
  for (const k of keys) if (before[k] !== after[k] && !['DESTDIR', 'EXEC_START', 'EXEC_STOP'].includes(k)) out.push(`  ${k}: ${show(before[k])} -> ${show(after[k])}`);
  return out;
}

export function rollbackDryRun(ctx: AppContext, name: string): void {
  validateContainerName(name);
  const cp = containerPaths(ctx.paths, name);
  const cur = currentSlot(cp);
  if (cur === null) throw containerNotInstalled(name);
  const target = otherSlot(cur);
  const dir = cp.slotDir(target);
  if (!fs.existsSync(path.join(dir, 'info'))) {
    throw new AtomicError('NOT_FOUND', `Error: Cannot find a previous deployment to rollback located at ${dir}`, { suggestions: ['A rollback needs an earlier update: atomic containers update NAME'] });
  }
  const from = readInfo(cp.slotDir(cur));
  const to = readInfo(dir);
  ctx.out.line(`Dry run: containers rollback ${name} would switch from ${cp.slotView(cur)} (${from.image}, ${from.revision.slice(0, 12)}) to ${cp.slotView(target)} (${to.image}, ${to.revision.slice(0, 12)}); nothing was changed.`);
  const diffs = [
    unifiedDiff(cp.hostUnit, slotUnitCopy(dir, name), `${cp.hostUnit} (live)`, slotUnitCopy(cp.slotView(target), name)),
    unifiedDiff(path.join(cp.slotDir(cur), 'config.json'), path.join(dir, 'config.json'), `${cp.slotView(cur)}/config.json (live)`, `${cp.slotView(target)}/config.json`),
    unifiedDiff(cp.hostTmpfiles, slotTmpfilesCopy(dir, name), `${cp.hostTmpfiles} (live)`, slotTmpfilesCopy(cp.slotView(target), name)),
  ].filter(Boolean);
  if (diffs.length === 0) ctx.out.line('Files: no change to the unit, config.json or tmpfiles.d file');
  for (const d of diffs) for (const l of d.replace(/\n$/, '').split('\n')) ctx.out.line(l);
  const changes = valueChanges(from.values ?? {}, to.values ?? {});
  ctx.out.line(changes.length ? 'Value changes:' : 'Value changes: none');
  for (const c of changes) ctx.out.line(c);
}
