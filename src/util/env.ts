/**
 * The one place that reads (and, for the CLI's flag mirrors, sets) `ATOMIC_*` environment
 * variables. Each is read when asked, not at load time, since tests and the CLI set them at run
 * time. Callers keep their own defaults and parsing (`atomicEnv(...) ?? 'systemctl'`); `env`
 * lets a caller that was handed an environment (tests) read from it instead of process.env.
 */
export const ATOMIC_ENV = {
  // where things live
  ATOMIC_SYSROOT: 'prefix of every host path (also --sysroot)',
  ATOMIC_CONF: 'atomic.conf to read (below the sysroot; default /etc/atomic.conf)',
  ATOMIC_OSTREE_REPO: 'the OSTree store',
  ATOMIC_OSTREE_CHECKOUT_PATH: 'where deployments are checked out (default /var/lib/containers/atomic)',
  ATOMIC_SPOOL_DIR: 'temporary files of docker-daemon exports (default the OS temp dir)',
  ATOMIC_CERTS_D: 'registry certificate directory (instead of /etc/containers/certs.d, /etc/docker/certs.d)',
  ATOMIC_CNI_STATE: 'CNI state directory (default /run/atomic-cni)',
  ATOMIC_CNI_PATH: 'CNI plugin search path (before CNI_PATH)',
  ATOMIC_CGROUP_ROOT: 'cgroup filesystem root (default /sys/fs/cgroup)',
  ATOMIC_CAP_LAST_CAP_FILE: "the kernel's cap_last_cap file",
  ATOMIC_OCI_SCHEMAS: 'runtime-spec JSON schemas directory',
  // tools
  ATOMIC_SYSTEMCTL: 'systemctl binary',
  ATOMIC_SYSTEMD_TMPFILES: 'systemd-tmpfiles binary',
  ATOMIC_SYSTEMD_ANALYZE: 'systemd-analyze binary',
  ATOMIC_GPGV: 'gpgv binary',
  ATOMIC_DOCKER_CLI: 'the docker/podman CLI that exports docker-daemon: images',
  ATOMIC_ENGINE_PATH: 'PATH searched for a container engine by label commands',
  // behaviour
  ATOMIC_DEBUG: "'1': stack traces and debug output (also --debug)",
  ATOMIC_ASSUME_YES: "'1': do not ask for confirmation (also -y)",
  ATOMIC_IGNORE: "'1': --ignore",
  ATOMIC_NO_FAST_PATH: "'1': always load oclif (no fast path for simple commands)",
  ATOMIC_NO_BUNDLE: "'1': bin/run.js loads dist/src instead of the bundle dist/bundle/main.cjs (read there, not through atomicEnv)",
  ATOMIC_CONTENT_TYPE: "oclif's: 'json' is --json for every command that has it (the fast path leaves it to oclif)",
  ATOMIC_LOCK_TIMEOUT: 'seconds to wait for the store lock (default 300)',
  ATOMIC_REGISTRY_TIMEOUT_MS: 'registry request timeout',
  ATOMIC_REGISTRY_MIN_BYTES_PER_WINDOW: 'registry stall detection: minimum bytes per window',
  ATOMIC_REGISTRY_RETRIES: 'registry retry attempts (default 3)',
  ATOMIC_REGISTRY_RETRY_DELAY_MS: 'first registry retry delay (default 200)',
  ATOMIC_STORE_WORKERS: 'worker threads that write store objects',
  ATOMIC_STORE_WORKERS_AUTO: "'0': no automatic worker count from the free cores (no workers)",
  ATOMIC_DIFFID_WORKER: "'1': hash layer diff_ids in a worker",
  ATOMIC_LAYER_WORKERS:
    "'1': import pulled layers on worker threads (image/layer-worker.ts; default: on the main thread); 'one': one layer worker beside the main thread for pulls with 2+ missing layers",
  ATOMIC_LARGE_DEDUP:
    "'0': large files of a pull are not compared with the object a stored version of the image holds at their path before they are written (store/large-dedup.ts)",
  ATOMIC_V8_DEFAULTS: "'1': pulls keep V8's default heap and JIT settings (cli/lean-heap.ts)",
  ATOMIC_NODE_EXTRA_CA_CERTS:
    "set by bin/run.js's first line: the NODE_EXTRA_CA_CERTS file, read at the first TLS connection instead of at start-up (util/extra-ca.ts; read there, not through atomicEnv)",
  // tests only
  ATOMIC_FAULT: 'kill the process (SIGKILL) at this named fault point (or prefix*)',
  ATOMIC_FAULT_AT: 'kill the process at the n-th fault point reached',
  ATOMIC_FAULT_TRACE: "append each fault point's name to this file",
  ATOMIC_FAULT_REGISTRY_STALL: 'stall halfway through the blob with this digest',
  ATOMIC_OSTREE_TEST_FORCE_IMAGE_ID: "the IMAGE_ID value install records (atomic's test hook)",
} as const;

export type AtomicEnvName = keyof typeof ATOMIC_ENV;

/** The value of an `ATOMIC_*` variable (undefined when unset). */
export function atomicEnv(name: AtomicEnvName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[name];
}

/** Set an `ATOMIC_*` variable for this process and the commands it runs (the CLI's flag mirrors). */
export function setAtomicEnv(name: AtomicEnvName, value: string): void {
  process.env[name] = value;
}
