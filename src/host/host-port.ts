/**
 * The host as the deployment layer sees it: systemd units, systemd-tmpfiles, the OCI runtime's
 * leftover containers and bind mounts. `src/deploy` changes the host only through this interface;
 * `realHost()` is the implementation over the real tools (host/systemd.ts, host/runtime.ts,
 * host/mount-cmd.ts), and tests hand the deployment layer a recording fake instead
 * (`DeployContext.host`), so the journal and recovery are unit-tested without a host.
 *
 * Every unit method takes a full `NAME.service` name. With a sysroot (`offline`) the calls that
 * need a running manager (daemon-reload, start, stop) do nothing and queries answer "inactive".
 */
import { Systemd, type SystemdOptions, type UnitState } from './systemd.js';
import { reapContainer, containerBundle } from './runtime.js';
import { bindMountReadOnly, isMountPoint, unmount } from './mount-cmd.js';

export type { UnitState } from './systemd.js';

export interface HostPort {
  /** True for a sysroot other than '/': no running manager to talk to. */
  readonly offline: boolean;
  /** Quiet query of a unit's state. */
  state(unit: string): UnitState;
  isActive(unit: string): boolean;
  daemonReload(): void;
  enable(unit: string): void;
  /** `disable --now` (just `disable` offline); errors ignored. */
  disableNow(unit: string): void;
  /** `systemctl start`; `noBlock`: queue the job and return (a Type=notify unit waits for READY=1, which the health gate watches). */
  start(unit: string, noBlock?: boolean): void;
  /** `systemctl restart` (stop and start as one job of the manager), echoed as `systemctl start`; `noBlock` as for start. */
  restart(unit: string, noBlock?: boolean): void;
  /** Echo `systemctl stop` for the stop half of a later restart() (atomic's output has both lines); changes nothing. */
  stopInRestart(unit: string): void;
  stop(unit: string, ignoreErrors?: boolean): void;
  /** Forget a failed state of a unit that is gone. */
  resetFailed(unit: string): void;
  /** `systemd-tmpfiles --create FILE` (errors ignored offline). */
  tmpfilesCreate(file: string): void;
  /** `systemd-tmpfiles --remove FILE`; errors ignored. */
  tmpfilesRemove(file: string): void;
  /** Remove the runtime's leftover container NAME (a killed runc leaves it); true when one was removed. */
  reapContainer(runtime: string, name: string): boolean;
  /** The bundle directory of the runtime's container NAME (`<runtime> state NAME`), or null when the runtime has none. */
  containerBundle(runtime: string, name: string): string | null;
  /** Read-only bind mount; null on success, else the tool's message. */
  bindMountReadOnly(src: string, dest: string): string | null;
  /** umount; null on success, else the tool's message. */
  unmount(dest: string): string | null;
  isMountPoint(dir: string): boolean;
}

/** The real host: systemctl/systemd-tmpfiles (echoed through `o.echo`), the runtime, mount(8). */
export function realHost(o: SystemdOptions): HostPort {
  const sd = new Systemd(o);
  return {
    get offline() {
      return sd.offline;
    },
    state: (unit) => sd.state(unit),
    isActive: (unit) => sd.isActive(unit),
    daemonReload: () => sd.daemonReload(),
    enable: (unit) => void sd.enable(unit),
    disableNow: (unit) => sd.disableNow(unit),
    start: (unit, noBlock) => sd.start(unit, noBlock),
    restart: (unit, noBlock) => sd.restart(unit, noBlock),
    stopInRestart: (unit) => sd.stopInRestart(unit),
    stop: (unit, ignoreErrors) => sd.stop(unit, ignoreErrors),
    resetFailed: (unit) => sd.resetFailed(unit),
    tmpfilesCreate: (file) => void sd.tmpfilesCreate(file),
    tmpfilesRemove: (file) => sd.tmpfilesRemove(file),
    reapContainer: (runtime, name) => reapContainer(runtime, name, o.echo),
    containerBundle,
    bindMountReadOnly,
    unmount,
    isMountPoint,
  };
}
