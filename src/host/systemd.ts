/**
 * systemctl and systemd-tmpfiles, echoed to stdout the way atomic did ("systemctl enable etcd").
 * With a sysroot the commands run offline: `systemctl --root=DIR enable`, `systemd-tmpfiles
 * --root=DIR --create`; calls that need a running manager (daemon-reload, start, stop) are skipped
 * and queries report "inactive". `--user` mode adds `--user`. The binaries can be overridden
 * with $ATOMIC_SYSTEMCTL / $ATOMIC_SYSTEMD_TMPFILES (tests).
 *
 * Every unit method takes a full `NAME.service` unit name (callers get it from
 * deploy/container-name.ts `unitName`) and refuses anything else: a bare name is resolved by
 * systemctl to `NAME.target`, `NAME.socket`, ... when it has such a suffix.
 */
import { spawnSync } from 'node:child_process';
import { AtomicError } from '../util/errors.js';
import { atomicEnv } from '../util/env.js';
import { applyTmpfilesCreatePlan, tmpfilesCreatePlan, tmpfilesRemoveIsNoOp } from './tmpfiles-noop.js';
import { applyEnablePlan, planOfflineEnable } from './unit-enable.js';
import { offlineEnableVerified } from './enable-verify.js';

export type UnitState = 'active' | 'inactive' | 'failed' | 'activating' | 'deactivating' | 'unknown';

export interface SystemdOptions {
  /** '/' = the running system. */
  sysroot: string;
  user: boolean;
  echo: (line: string) => void;
  /** The store's state directory: caches what was verified about the host's tools (host/enable-verify.ts). */
  cacheDir?: string;
}

/** Only `X.service` units are ever addressed (see the module comment). */
function svc(unit: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*\.service$/.test(unit)) {
    throw new AtomicError('INTERNAL', `refusing to address the systemd unit ${JSON.stringify(unit)}: only NAME.service units of containers are managed`);
  }
  return unit;
}

export class Systemd {
  private readonly systemctl = atomicEnv('ATOMIC_SYSTEMCTL') ?? 'systemctl';
  private readonly tmpfilesOverride = atomicEnv('ATOMIC_SYSTEMD_TMPFILES');
  private readonly tmpfiles = this.tmpfilesOverride ?? 'systemd-tmpfiles';
  constructor(private readonly o: SystemdOptions) {}

  get offline(): boolean {
    return this.o.sysroot !== '/';
  }

  private base(): string[] {
    const a: string[] = [];
    if (this.o.user) a.push('--user');
    if (this.offline) a.push(`--root=${this.o.sysroot}`);
    return a;
  }

  /**
   * Run and echo; throws (exit code of the tool) on failure unless `ignoreErrors`. `noOp`: echo
   * only (the call provably changes nothing). `echoArgs`: the line atomic printed for this step
   * when it differs from the call made (restart()).
   */
  private run(bin: string, args: string[], ignoreErrors = false, noOp = false, echoArgs = args): boolean {
    this.o.echo([bin === this.systemctl ? 'systemctl' : 'systemd-tmpfiles', ...echoArgs].join(' '));
    if (noOp) return true;
    const r = spawnSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status === 0) return true;
    if (ignoreErrors) return false;
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim();
    throw new AtomicError('IO', `${[bin, ...args].join(' ')} failed: ${why}`, {
      exitCode: typeof r.status === 'number' && r.status > 0 ? r.status : 1,
      suggestions: this.offline ? [] : ['Check that systemd is running (systemctl is-system-running), or use --sysroot DIR for an offline install.'],
    });
  }

  daemonReload(): void {
    if (this.offline) return;
    this.run(this.systemctl, [...this.base(), 'daemon-reload']);
  }

  /**
   * Offline (a sysroot), the links are created here when host/unit-enable.ts is sure of them and
   * this systemctl was verified to create the same (host/enable-verify.ts); echoed as always.
   * Returns whether systemctl was started.
   */
  enable(unit: string): boolean {
    const args = [...this.base(), 'enable', svc(unit)];
    if (this.offline && !this.o.user && this.o.cacheDir !== undefined && atomicEnv('ATOMIC_SYSTEMCTL') === undefined) {
      const plan = planOfflineEnable(this.o.sysroot, unit);
      if (plan && offlineEnableVerified(this.systemctl, this.o.cacheDir)) {
        try {
          applyEnablePlan(plan);
          this.run(this.systemctl, args, false, true);
          return false;
        } catch {
          /* a race or an error: systemctl decides */
        }
      }
    }
    this.run(this.systemctl, args);
    return true;
  }

  disableNow(unit: string): void {
    if (this.offline) this.run(this.systemctl, [...this.base(), 'disable', svc(unit)], true);
    else this.run(this.systemctl, [...this.base(), 'disable', '--now', svc(unit)], true);
  }

  start(unit: string, noBlock = false): void {
    if (this.offline) return;
    this.run(this.systemctl, [...this.base(), 'start', ...(noBlock ? ['--no-block'] : []), svc(unit)]);
  }

  /**
   * One job for stop then start (the unit's ExecStop of the loaded unit, then its ExecStart): no
   * client process between the two. Echoed as atomic's update printed the two steps: the stop's
   * line where the stop used to be (stopInRestart), `systemctl start UNIT` here, so scripts that
   * read the update's output see the same lines whichever way the unit was restarted.
   */
  restart(unit: string, noBlock = false): void {
    if (this.offline) return;
    const extra = noBlock ? ['--no-block'] : [];
    this.run(this.systemctl, [...this.base(), 'restart', ...extra, svc(unit)], false, false, [...this.base(), 'start', ...extra, svc(unit)]);
  }

  /** The `systemctl stop UNIT` line of a stop that a later restart() performs (echo only). */
  stopInRestart(unit: string): void {
    if (this.offline) return;
    this.run(this.systemctl, [...this.base(), 'stop', svc(unit)], false, true);
  }

  stop(unit: string, ignoreErrors = false): void {
    if (this.offline) return;
    this.run(this.systemctl, [...this.base(), 'stop', svc(unit)], ignoreErrors);
  }

  /**
   * The tmpfiles calls are echoed as always but not run when they provably change nothing
   * (host/tmpfiles-noop.ts: an update's --remove of a file without D/R/r lines, a --create of `d`
   * lines whose directories already exist as specified), and a --create that only makes missing
   * directories makes them here the way the tool does. An $ATOMIC_SYSTEMD_TMPFILES override is always run.
   * Returns whether systemd-tmpfiles was started.
   */
  tmpfilesCreate(file: string): boolean {
    const args = [...(this.offline ? [`--root=${this.o.sysroot}`] : []), ...(this.o.user ? ['--user'] : []), '--create', file];
    const plan = this.tmpfilesOverride === undefined ? tmpfilesCreatePlan(file, this.o.sysroot) : null;
    // --user: only the no-op is ours
    if (plan && (!this.o.user || plan.length === 0)) {
      try {
        applyTmpfilesCreatePlan(plan);
        this.run(this.tmpfiles, args, this.offline, true);
        return false;
      } catch {
        /* a race or an error: the tool decides */
      }
    }
    this.run(this.tmpfiles, args, this.offline);
    return true;
  }

  tmpfilesRemove(file: string): void {
    const noOp = this.tmpfilesOverride === undefined && tmpfilesRemoveIsNoOp(file);
    this.run(this.tmpfiles, [...(this.offline ? [`--root=${this.o.sysroot}`] : []), ...(this.o.user ? ['--user'] : []), '--remove', file], true, noOp);
  }

  /** Forget a failed state of a unit that is gone (quiet; after uninstall). */
  resetFailed(unit: string): void {
    if (this.offline) return;
    spawnSync(this.systemctl, [...this.base(), 'reset-failed', svc(unit)], { stdio: 'ignore' });
  }

  /** Quiet query (not echoed), like atomic's is-active / is-failed. */
  state(unit: string): UnitState {
    if (this.offline) return 'inactive';
    const r = spawnSync(this.systemctl, [...this.base(), 'is-active', svc(unit)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const s = (r.stdout ?? '').trim();
    if (s === 'active' || s === 'inactive' || s === 'failed' || s === 'activating' || s === 'deactivating') return s;
    return r.error ? 'unknown' : 'inactive';
  }

  isActive(unit: string): boolean {
    return this.state(unit) === 'active';
  }
}
