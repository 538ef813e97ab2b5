/**
 * A HostPort (src/host/host-port.ts) that records what the deployment layer asks of the host,
 * so the journal, activation and recovery are unit-tested without systemd, a runtime or mounts.
 * It is an implementation of our own interface seam, not a stand-in for a tool: the real host
 * (`realHost`) is exercised by the integration and system suites.
 *
 * `onCall` sees every call before it is recorded (a test reads the journal phase there);
 * `failAt(n)` makes the n-th call from now (0-based) throw, and `failWhen(p)` the next call `p`
 * accepts, as a host failure in the middle of an operation would.
 */
import * as path from 'node:path';
import type { HostPort, UnitState } from '../../src/host/host-port.js';

export class RecordingHost implements HostPort {
  calls: string[] = [];
  states = new Map<string, UnitState>();
  /** Container name → the bundle its running container was started from (`containerBundle`). */
  bundles = new Map<string, string>();
  /** The bundle a start/restart of a unit runs (the sandbox: the slot NAME points at); null: none is recorded. */
  startedBundle: ((unit: string) => string | null) | null = null;
  onCall: ((call: string) => void) | null = null;
  private failIn: number | null = null;
  private failIf: ((call: string) => boolean) | null = null;
  constructor(readonly offline = false) {}

  /** Throw at the n-th host call from now (0: the next one). */
  failAt(n: number): void {
    this.failIn = n;
  }

  /** Throw at the next host call `p` accepts. */
  failWhen(p: (call: string) => boolean): void {
    this.failIf = p;
  }

  private record(call: string): void {
    if ((this.failIn !== null && this.failIn-- === 0) || this.failIf?.(call)) {
      this.failIn = null;
      this.failIf = null;
      throw new Error(`host failure injected at: ${call}`);
    }
    this.onCall?.(call);
    this.calls.push(call);
  }

  state(unit: string): UnitState {
    return this.states.get(unit) ?? 'inactive';
  }
  isActive(unit: string): boolean {
    return this.state(unit) === 'active';
  }
  daemonReload(): void {
    this.record('daemon-reload');
  }
  enable(unit: string): void {
    this.record(`enable ${unit}`);
  }
  disableNow(unit: string): void {
    this.record(`disable --now ${unit}`);
    this.states.set(unit, 'inactive');
    this.bundles.delete(unit.replace(/\.service$/, ''));
  }
  start(unit: string): void {
    this.record(`start ${unit}`);
    // as systemctl start: a unit already active keeps its running process
    if (this.state(unit) !== 'active') this.running(unit);
  }
  /** Echo only: no call and no state change. */
  stopInRestart(): void {}
  restart(unit: string): void {
    this.record(`restart ${unit}`);
    this.running(unit);
  }
  stop(unit: string): void {
    this.record(`stop ${unit}`);
    this.states.set(unit, 'inactive');
    this.bundles.delete(unit.replace(/\.service$/, ''));
  }
  private running(unit: string): void {
    this.states.set(unit, 'active');
    const b = this.startedBundle?.(unit) ?? null;
    if (b !== null) this.bundles.set(unit.replace(/\.service$/, ''), b);
  }
  resetFailed(unit: string): void {
    this.record(`reset-failed ${unit}`);
  }
  tmpfilesCreate(file: string): void {
    this.record(`tmpfiles --create ${path.basename(file)}`);
  }
  tmpfilesRemove(file: string): void {
    this.record(`tmpfiles --remove ${path.basename(file)}`);
  }
  containerBundle(runtime: string, name: string): string | null {
    return this.bundles.get(name) ?? null;
  }
  reapContainer(runtime: string, name: string): boolean {
    this.record(`reap ${name}`);
    return false;
  }
  bindMountReadOnly(): string | null {
    throw new Error('not used by deployments');
  }
  unmount(): string | null {
    throw new Error('not used by deployments');
  }
  isMountPoint(): boolean {
    return false;
  }
}
