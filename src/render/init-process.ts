/**
 * `--init` (docs/image-format.md, "PID 1 and signals"): a minimal init (Debian's catatonit, as
 * `podman --init` uses) bind-mounted read-only from the host at /dev/init and made the container's
 * PID 1, with the image's command as its child. The kernel does not deliver a signal to a PID 1
 * that has no handler for it, so a daemon that is PID 1 ignores SIGTERM; under an init it gets the
 * forwarded signal as any process does, and the init reaps zombies. Pure: the caller checks that
 * the host binary exists.
 */
export const INIT_DEST = '/dev/init';

export function withInit(config: Record<string, unknown>, hostInit: string): Record<string, unknown> {
  const proc = { ...((config.process as Record<string, unknown> | undefined) ?? {}) };
  const args = Array.isArray(proc.args) ? (proc.args as string[]) : [];
  const mounts = Array.isArray(config.mounts) ? [...(config.mounts as Record<string, unknown>[])] : [];
  if (args[0] !== INIT_DEST) proc.args = [INIT_DEST, '--', ...args];
  if (!mounts.some((m) => m.destination === INIT_DEST)) mounts.push({ destination: INIT_DEST, type: 'bind', source: hostInit, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  return { ...config, process: proc, mounts };
}
