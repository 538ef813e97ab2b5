/**
 * `healthCheck` `notify` (docs/image-format.md): the unit becomes `Type=notify` with
 * `NotifyAccess=all`. systemd gives the unit's processes `$NOTIFY_SOCKET`; the foreground
 * `runc run` of the unit finds it in its environment, binds its own socket in the container's
 * state directory, bind-mounts it read-only at `/run/notify` in the container with
 * `NOTIFY_SOCKET=/run/notify/notify.sock`, and passes the service's `READY=1` (and its own pid as
 * `MAINPID`) on to systemd. `NotifyAccess=all` because runc, not the unit's main process (the
 * /bin/sh wrapper), sends it. So `systemctl start` returns only once the service is ready.
 */
import { AtomicError } from '../util/errors.js';

/**
 * `unitText` with `Type=notify` and `NotifyAccess=all` in its [Service] section (replacing the
 * template's own), and `TimeoutStopSec=` (stop timeout + 10 s) unless the template sets one: runc
 * 1.1 waits for READY=1 before it handles signals, so stopping a unit that never became ready
 * (the health gate's rollback) would otherwise wait for systemd's default 90 s before its SIGKILL.
 */
export function withNotifyType(unitText: string, file: string, stopTimeoutSec = 10): string {
  const lines = unitText.split('\n');
  const start = lines.findIndex((l) => l.trim() === '[Service]');
  if (start < 0) {
    throw new AtomicError('IMAGE_INVALID', `${file}: healthCheck notify needs a [Service] section in the unit`, {
      suggestions: ['Add a [Service] section to the service.template, or use another healthCheck type.'],
    });
  }
  let end = lines.findIndex((l, i) => i > start && /^\s*\[.*\]\s*$/.test(l));
  if (end < 0) end = lines.length;
  const body = lines.slice(start + 1, end).filter((l) => !/^\s*(Type|NotifyAccess)\s*=/.test(l));
  const stop = body.some((l) => /^\s*TimeoutStopSec\s*=/.test(l)) ? [] : [`TimeoutStopSec=${Math.ceil(stopTimeoutSec) + 10}`];
  return [...lines.slice(0, start + 1), 'Type=notify', 'NotifyAccess=all', ...stop, ...body, ...lines.slice(end)].join('\n');
}

/** The detached form (`runc run -d` with a PIDFile) exits after the start: runc's READY proxy needs the foreground form. */
export function checkNotifyExecForm(execStart: string, file: string): void {
  if (/\brun -d\b/.test(execStart)) {
    throw new AtomicError(
      'IMAGE_INVALID',
      `${file}: healthCheck notify needs the foreground unit form (runc run in the foreground), but this unit runs the container detached (PIDFile=$PIDFILE, runc run -d)`,
      {
        suggestions: ['Use a service.template without PIDFile= (ExecStart=$EXEC_START in the foreground), or another healthCheck type.'],
      },
    );
  }
}
