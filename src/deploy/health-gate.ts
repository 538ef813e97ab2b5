/**
 * The health gate of `containers update` and `containers rollback` (docs/reliability.md, "Health-gated
 * updates"): after the switch restarted the service, watch it for `watch` seconds. The unit must
 * stay active (no automatic restart, not failed, not gone inactive) and, when the deployment has a
 * readiness check (deploy/health-spec.ts), the check must pass within the window. On failure the
 * previous slot is activated again and started, waited for in the same way, the failure is shown
 * (unit state, probe output, the unit's last journal lines), the refused image is quarantined for
 * the container, and HEALTH_CHECK_FAILED (exit 8) is thrown.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeployContext } from './context.js';
import { systemdFor } from './activate-slot.js';
import { readInfo } from './info-file.js';
import { ensurePrivateDir } from './private-dir.js';
import type { ContainerPaths, Slot } from './layout.js';
import { unitName } from './container-name.js';
import { readHealthSpec, describeHealth, checkImageProbeTarget, type HealthSpec } from './health-spec.js';
import { addQuarantine, liftQuarantine } from './quarantine.js';
import { httpProbe, tcpProbe, execProbe, unitStatus, unitJournal, terminalSafe, type ProbeResult, type UnitStatus } from '../host/probes.js';
import { atomicWrite } from '../util/atomic-write.js';
import { AtomicError } from '../util/errors.js';

export const DEFAULT_WATCH_SECONDS = 10;

export interface WatchResult {
  healthy: boolean;
  /** Why it is not healthy (one line). */
  reason?: string;
  status: UnitStatus;
  probe?: ProbeResult;
}

export async function runProbe(spec: HealthSpec, name: string, runtime: string): Promise<ProbeResult> {
  const r = await probeOnce(spec, name, runtime);
  return { ok: r.ok, output: terminalSafe(r.output) };
}

function probeOnce(spec: HealthSpec, name: string, runtime: string): Promise<ProbeResult> {
  const ms = Math.max(100, Math.round(spec.timeout * 1000));
  try {
    checkImageProbeTarget(spec, name); // a deployment prepared before the check existed
  } catch (e) {
    return Promise.resolve({ ok: false, output: `not run: ${(e as Error).message}` });
  }
  if (spec.type === 'http') return httpProbe(spec.url ?? '', ms);
  if (spec.type === 'tcp') return tcpProbe(spec.address ?? '', ms);
  if (spec.type === 'exec') return execProbe(runtime, name, spec.command ?? ['true'], ms);
  return Promise.resolve({ ok: true, output: 'no check' });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function describeUnit(unit: string, s: UnitStatus): string {
  const bits = [`${s.activeState} (${s.subState})`];
  if (s.result && s.result !== 'success') bits.push(`result ${s.result}`);
  if (s.execMainStatus && s.execMainStatus !== '0') bits.push(`main process exit status ${s.execMainStatus}`);
  if (s.nRestarts > 0) bits.push(`restarted ${s.nRestarts} time(s)`);
  return `${unit} is ${bits.join(', ')}`;
}

/** How often the unit's state is read while it is watched (a `systemctl show` each time). */
const POLL_MS = 250;
/**
 * When the first read comes, after the start returned. Not at once: then the new container is
 * still starting (runc, the service's own start-up), and a `systemctl show` (a fork of this
 * process, systemctl's start-up, a request PID 1 serves) competed with it for the CPUs and for
 * PID 1: traced, the service came up ~60 ms later than after a plain `systemctl restart`
 * (docs/benchmarks.md, seventh session). Nothing is lost by waiting: see `watchUnit`.
 */
const FIRST_POLL_MS = 1000;

/**
 * Watch a started unit for `seconds` (see the module comment). The unit was just started by the
 * activation (deploy/activate-slot.ts), which reset it first (`reset-failed`) and started it by
 * hand (`start` / `restart`): systemd then counts automatic restarts (`NRestarts`) from 0, so any
 * count above 0, whenever it is read, is a restart by `Restart=` within the window: the first
 * read needs to come neither at once nor before a crash. (Reading the count at the first poll as
 * the base, as before, missed a restart that came before that read.)
 */
export async function watchUnit(o: { name: string; user: boolean; runtime: string; spec: HealthSpec | null; seconds: number }): Promise<WatchResult> {
  const unit = unitName(o.name);
  const start = Date.now();
  const end = start + o.seconds * 1000;
  // notify: systemd itself waits for READY=1 (the unit is activating until then); no probe of ours
  const notify = o.spec?.type === 'notify';
  const spec = o.spec && o.spec.type !== 'none' && !notify ? o.spec : null;
  let probe: ProbeResult | undefined;
  let passed = spec === null;
  let nextProbe = start;
  let wait = FIRST_POLL_MS;
  for (;;) {
    await sleep(Math.min(wait, Math.max(10, end - Date.now())));
    wait = POLL_MS;
    const s = unitStatus(unit, o.user);
    const restarting = s.subState === 'auto-restart' || s.nRestarts > 0;
    if (restarting || s.activeState === 'failed' || s.activeState === 'inactive' || s.activeState === 'deactivating') {
      return { healthy: false, reason: describeUnit(unit, s), status: s, probe };
    }
    const now = Date.now();
    if (!passed && s.activeState === 'active' && now >= nextProbe) {
      probe = await runProbe(spec as HealthSpec, o.name, o.runtime);
      passed = probe.ok;
      nextProbe = Date.now() + (spec as HealthSpec).interval * 1000;
    }
    if (Date.now() >= end) {
      const fin = unitStatus(unit, o.user);
      if (notify && fin.activeState === 'activating' && fin.nRestarts === 0)
        return { healthy: false, reason: `${unit} did not report READY=1 (sd_notify) within ${o.seconds} s: it is still activating`, status: fin };
      if (fin.activeState !== 'active' || fin.nRestarts > 0) return { healthy: false, reason: describeUnit(unit, fin), status: fin, probe };
      if (!passed)
        return {
          healthy: false,
          reason: `the readiness check did not pass within ${o.seconds} s: ${probe?.output ?? 'not run (the unit never became active)'}`,
          status: fin,
          probe,
        };
      return { healthy: true, status: fin, probe };
    }
  }
}

export interface GateInput {
  op: 'update' | 'rollback';
  /** The slot that was live before (switched back to on failure). */
  from: Slot;
  /** The slot just activated and started. */
  to: Slot;
  watch: number;
  /** Activate `from` again (started) and finish the operation's journal (deployment.ts). */
  switchBack: () => Promise<void>;
  /** Switch back to `from` on failure (default true; false when `from` was not serving either). */
  revert?: boolean;
}

/** What `containers inspect` shows as the result of the last update/rollback. */
export interface LastResult {
  op: 'update' | 'rollback';
  time: string;
  result: 'switched' | 'rolled-back' | 'not-watched';
  image: string;
  digest: string;
  reason?: string;
}

export function lastResultFile(cp: ContainerPaths): string {
  return path.join(cp.stateDir, 'last-result', `${cp.name}.json`);
}

export function readLastResult(cp: ContainerPaths): LastResult | null {
  try {
    return JSON.parse(fs.readFileSync(lastResultFile(cp), 'utf8')) as LastResult;
  } catch {
    return null;
  }
}

export async function writeLastResult(cp: ContainerPaths, r: LastResult): Promise<void> {
  try {
    ensurePrivateDir(path.dirname(lastResultFile(cp)));
    await atomicWrite(lastResultFile(cp), JSON.stringify(r, null, 4) + '\n', { mode: 0o600 });
  } catch {
    /* informational only */
  }
}

/**
 * Run the gate after `activateSlot(to, start)`. Returns when the new deployment is healthy (or
 * nothing is watched); otherwise restores `from`, and throws HEALTH_CHECK_FAILED.
 */
export async function healthGate(ctx: DeployContext, cp: ContainerPaths, g: GateInput): Promise<void> {
  const sd = systemdFor(ctx);
  const toInfo = readInfo(cp.slotDir(g.to));
  const last = { op: g.op, time: new Date().toISOString(), image: toInfo.image, digest: toInfo.revision };
  if (g.watch <= 0 || sd.offline || toInfo['has-container-service'] === false) {
    await writeLastResult(cp, { ...last, result: 'not-watched' });
    return;
  }
  const unit = unitName(cp.name);
  const user = ctx.paths.userMode;
  const spec = readHealthSpec(cp.slotDir(g.to));
  const since = Date.now();
  ctx.out.line(`Watching ${unit} for ${g.watch} s: ${describeHealth(spec)}`);
  const r = await watchUnit({ name: cp.name, user, runtime: toInfo.runtime, spec, seconds: g.watch });
  if (r.healthy) {
    ctx.out.line(`${unit} is healthy on ${cp.slotView(g.to)}`);
    if (await liftQuarantine(cp, toInfo.revision)) ctx.out.line(`Image ${toInfo.image} (${toInfo.revision.slice(0, 12)}) is no longer quarantined for ${cp.name}`);
    await writeLastResult(cp, { ...last, result: 'switched' });
    return;
  }
  const journal = unitJournal(unit, user, 15, since - 1000);
  ctx.out.warn(`The ${g.op} of ${cp.name} to ${toInfo.image} failed its health check: ${r.reason}`);
  ctx.out.warn(`  unit state: ${describeUnit(unit, r.status)}`);
  if (r.probe) ctx.out.warn(`  probe: ${r.probe.output}`);
  if (journal.length) {
    ctx.out.warn(`  last journal lines of ${unit}:`);
    for (const l of journal) ctx.out.warn(`    ${l}`);
  }
  if (g.revert === false) {
    await addQuarantine(cp, { digest: toInfo.revision, image: toInfo.image, reason: r.reason ?? 'unhealthy' });
    await writeLastResult(cp, { ...last, result: 'switched', reason: r.reason });
    throw new AtomicError(
      'HEALTH_CHECK_FAILED',
      `${g.op === 'update' ? 'Update' : 'Rollback'} of ${cp.name}: ${toInfo.image} failed its health check (${r.reason}); it stays deployed because the previous deployment was not serving either`,
      {
        suggestions: [`See the service's log: journalctl -u ${unit}`],
      },
    );
  }
  ctx.out.warn(`Switching ${cp.name} back to ${cp.slotView(g.from)}`);
  let backOk = false;
  let backWhy = '';
  try {
    await g.switchBack();
    const fromInfo = readInfo(cp.slotDir(g.from));
    const back = await watchUnit({ name: cp.name, user, runtime: fromInfo.runtime, spec: readHealthSpec(cp.slotDir(g.from)), seconds: Math.max(g.watch, 5) });
    backOk = back.healthy;
    backWhy = back.reason ?? '';
  } catch (e) {
    backWhy = (e as Error).message;
  }
  await addQuarantine(cp, { digest: toInfo.revision, image: toInfo.image, reason: r.reason ?? 'unhealthy' });
  await writeLastResult(cp, { ...last, result: 'rolled-back', reason: r.reason });
  const fromView = cp.slotView(g.from);
  throw new AtomicError(
    'HEALTH_CHECK_FAILED',
    `${g.op === 'update' ? 'Update' : 'Rollback'} of ${cp.name} rolled back: ${toInfo.image} failed its health check (${r.reason}); ` +
      (backOk ? `the previous deployment ${fromView} is serving again` : `the previous deployment ${fromView} was restored but is not healthy either (${backWhy})`) +
      `; image ${toInfo.revision.slice(0, 12)} is quarantined for ${cp.name}`,
    {
      suggestions: [
        `See the service's log: journalctl -u ${unit}`,
        `Fix the image, or retry by hand (lifts the quarantine when it passes): atomic containers update --rebase IMAGE ${cp.name}; --watch 0 skips the check.`,
      ],
    },
  );
}
