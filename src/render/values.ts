/**
 * Template values of a deployment (atomic's `_amend_values`, reference §2.8), as a pure function:
 * every host fact (uid, home, runtime features, cap_last_cap, ...) is passed in by the caller.
 *
 * Precedence for the overridable values: `setValues` (user `--set`; on update the current slot's
 * stored `info.values` merged with the new `--set`) > manifest `defaultValues` > OS defaults.
 * NOTE: atomic's code applied the OS defaults for RUN_DIRECTORY, PIDFILE, CONF_DIRECTORY,
 * STATE_DIRECTORY, ALL_PROCESS_CAPABILITIES, RUNTIME and ATOMIC *before* the manifest defaults,
 * so a manifest could not override them; we follow the documented precedence (§2.8) instead, so
 * an image may ship e.g. its own STATE_DIRECTORY default. UUID is applied after both, as in
 * atomic. The forced values (FORCED_VARIABLES) are always recomputed and overwrite `--set`.
 */
import { randomUUID } from '../util/random.js';
import * as path from 'node:path';
import { AtomicError } from '../util/errors.js';

/** Input of computeValues: everything atomic read from the host, pre-probed by the caller. */
export interface ValuesInput {
  /** Container name (NAME). */
  name: string;
  /** Deployment dir `CK/NAME.N` (DESTDIR). */
  destDir: string;
  /** Image reference as installed (IMAGE_NAME). */
  imageName: string;
  /** Image id (IMAGE_ID, §2.6 step 9). */
  imageId: string;
  /** OCI runtime path (RUNTIME default, and the EXEC_* commands). */
  runtime: string;
  userMode: boolean;
  uid: number;
  gid: number;
  /** `--set` values, or on update the stored values merged with the new `--set`. */
  setValues: Record<string, string>;
  /** manifest.json `defaultValues` (non-strings are converted with String()). */
  manifestDefaults: Record<string, string | number | boolean>;
  /** The unit template that will be rendered (exports/service.template or DEFAULT_SERVICE_TEMPLATE). */
  serviceTemplate: string;
  /** `<runtime> --help` mentions --systemd-cgroup; `<runtime> run --help` mentions --pid-file. */
  runtimeFeatures: { systemdCgroup: boolean; pidFile: boolean };
  /** User mode only: $XDG_RUNTIME_DIR (default /run/user/<uid>). Ignored in root mode (/run). */
  runDirectory?: string;
  /** Home directory of the user (user-mode CONF_DIRECTORY / STATE_DIRECTORY). */
  home: string;
  /** Absolute path of the running `atomic` entry point (ATOMIC). */
  atomicPath: string;
  /** /proc/sys/kernel/cap_last_cap, when readable. */
  capLastCap?: number;
  /** UUID generator (tests); default util/random's randomUUID (a uuid4 from /dev/urandom). */
  uuid?: () => string;
  /** The image config's `StopSignal` (e.g. "SIGQUIT", "3"), used when STOP_SIGNAL is not set. */
  stopSignal?: string;
}

/** atomic's default unit template (SYSTEMD_UNIT_FILE_DEFAULT_TEMPLATE), byte-exact, incl. the leading empty line. */
export const DEFAULT_SERVICE_TEMPLATE = `
[Unit]
Description=$NAME

[Service]
ExecStartPre=$EXEC_STARTPRE
ExecStart=$EXEC_START
ExecStop=$EXEC_STOP
ExecStopPost=$EXEC_STOPPOST
Restart=on-failure
WorkingDirectory=$DESTDIR
PIDFile=$PIDFILE

[Install]
WantedBy=multi-user.target
`;

/** atomic's KNOWN_CAPS (Atomic/util.py), in its order: capability numbers 0..37. */
export const KNOWN_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
];

/**
 * Capabilities newer than atomic's list (numbers 38..40). atomic decoded these with
 * `capsh --decode` when the kernel's cap_last_cap was beyond its list; we know the names.
 */
const NEWER_CAPABILITIES: readonly string[] = ['CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE'];

/**
 * The ALL_PROCESS_CAPABILITIES value: each name double-quoted, joined with ",\n", trailing "\n".
 * Without capLastCap: atomic's 38 names. With it: the first capLastCap+1 names; numbers beyond
 * the names we know are dropped (as atomic dropped capsh's numeric entries).
 */
export function allProcessCapabilities(capLastCap?: number): string {
  let caps: readonly string[] = KNOWN_CAPABILITIES;
  if (capLastCap !== undefined && Number.isInteger(capLastCap) && capLastCap >= 0) {
    caps = [...KNOWN_CAPABILITIES, ...NEWER_CAPABILITIES].slice(0, capLastCap + 1);
  }
  return caps.map((c) => `"${c}"`).join(',\n') + '\n';
}

/** Characters that need no quoting in a systemd command line (no specifier `%`, no `$`, no quotes/space). */
const SYSTEMD_SAFE = /^[A-Za-z0-9_.+:,@=/-]+$/;

/**
 * One argument of a systemd Exec* command line, single-quoted like atomic (`'etcd'`).
 * Safe names give exactly atomic's bytes. Anything else is escaped so that it stays ONE argument
 * with its literal bytes: systemd unquotes C-style escapes inside quotes (`\\`, `\'`, `\xNN`),
 * `%` is doubled (specifier expansion) and `$` is doubled (environment expansion).
 */
export function quoteSystemdArg(s: string): string {
  if (SYSTEMD_SAFE.test(s)) return `'${s}'`;
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '"') out += '\\"';
    else if (ch === '%') out += '%%';
    else if (ch === '$') out += '$$';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return `'${out}'`;
}

/** A path word of the command line: bare when safe (atomic's bytes), else quoted. */
function word(s: string): string {
  return SYSTEMD_SAFE.test(s) ? s : quoteSystemdArg(s);
}

/** atomic's `_template_support_pidfile`: literal `$EXEC_STOPPOST` and `$PIDFILE` (not the `${}` forms). */
export function templateSupportsPidfile(serviceTemplate: string): boolean {
  return serviceTemplate.includes('$EXEC_STOPPOST') && serviceTemplate.includes('$PIDFILE');
}

export interface ExecDirectives {
  EXEC_START: string;
  EXEC_STOP: string;
  EXEC_STARTPRE: string;
  EXEC_STOPPOST: string;
  /** true when the detached `run -d --pid-file` mode was chosen. */
  detached: boolean;
}

/** A word of a POSIX sh command line: bare when safe, else single-quoted. */
function shWord(s: string): string {
  return SYSTEMD_SAFE.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Seconds `ExecStop` of the foreground form waits for the container to exit after SIGTERM. */
export const FOREGROUND_STOP_GRACE_SECONDS = 10;

/**
 * atomic's `_generate_systemd_runtime_startstop_directives`, with the foreground form hardened:
 *
 * detached (template has `$EXEC_STOPPOST` and `$PIDFILE`, runtime has `run --pid-file`), byte-
 * compatible with atomic: `<rt> <SG> run -d --pid-file <PIDFILE> '<NAME>'` (TWO spaces after the
 * runtime whether or not SG = ` --systemd-cgroup` is present, as atomic's format string has them;
 * systemd splits on any whitespace), `ExecStopPost=<rt> delete '<NAME>'`. systemd supervises the
 * container's init itself (MainPID from PIDFile=), so a stop or a crash of the container always
 * ends in ExecStopPost's delete.
 *
 * foreground (any other template): atomic's `<rt><SG> run '<NAME>'` / `<rt><SG> kill '<NAME>'`
 * leave the container behind whenever runc itself dies: the container lives in its own cgroup
 * (`runc-NAME.scope` with --systemd-cgroup, `/system.slice/NAME` without), so systemd's final
 * SIGKILL on a stop timeout (a PID 1 that ignores SIGTERM) reaches only runc, the container keeps
 * running, and every later start fails with "container with given ID already exists" (measured
 * under systemd 252 + runc 1.1.5, see docs/reliability.md). So, through /bin/sh:
 *   ExecStart: `<rt> delete -f NAME` (a leftover of an earlier run) then `exec <rt><SG> run NAME`;
 *   ExecStop:  `<rt><SG> kill NAME TERM`, wait up to FOREGROUND_STOP_GRACE_SECONDS for the state
 *              to go, then `<rt><SG> delete -f NAME` (SIGKILL + state removal) — so a stop never
 *              depends on systemd's SIGKILL, which cannot reach the container.
 * The name is quoted for sh (names are validated to a safe charset anyway), the whole script with
 * quoteSystemdArg (`$` doubled for systemd, `%` doubled).
 */
export function execDirectives(opts: {
  name: string;
  runtime: string;
  pidfile: string;
  userMode: boolean;
  serviceTemplate: string;
  runtimeFeatures: { systemdCgroup: boolean; pidFile: boolean };
  /** Signal `ExecStop` sends first (runc kill syntax: TERM, SIGQUIT, 3); default TERM. */
  stopSignal?: string;
  /** Seconds `ExecStop` waits after it before the container is killed; default FOREGROUND_STOP_GRACE_SECONDS. */
  stopTimeout?: number;
  /** A file `ExecStop` creates so the ExecStart wrapper knows the exit is a requested stop (foreground form). */
  stopMarker?: string;
}): ExecDirectives {
  const rt = word(opts.runtime);
  const id = quoteSystemdArg(opts.name);
  const sg = !opts.userMode && opts.runtimeFeatures.systemdCgroup ? ' --systemd-cgroup' : '';
  if (templateSupportsPidfile(opts.serviceTemplate) && opts.runtimeFeatures.pidFile) {
    return {
      EXEC_START: `${rt} ${sg} run -d --pid-file ${word(opts.pidfile)} ${id}`,
      EXEC_STOP: '',
      EXEC_STARTPRE: '',
      EXEC_STOPPOST: `${rt} delete ${id}`,
      detached: true,
    };
  }
  const r = shWord(opts.runtime);
  const n = shWord(opts.name);
  const secs = Math.ceil(opts.stopTimeout ?? FOREGROUND_STOP_GRACE_SECONDS);
  const sig = opts.stopSignal ?? 'TERM';
  const mark = opts.stopMarker ? shWord(opts.stopMarker) : null;
  // with a stop marker, sh stays the main process: the exit of a container that a stop had to
  // kill (137) or that died of its stop signal (128+N) is a clean stop (inactive, not failed)
  const start = mark
    ? `rm -f ${mark}; ${r}${sg} delete -f ${n} >/dev/null 2>&1; ${r}${sg} run ${n}; rc=$?; if [ -e ${mark} ]; then rm -f ${mark}; exit 0; fi; exit $rc`
    : `${r}${sg} delete -f ${n} >/dev/null 2>&1; exec ${r}${sg} run ${n}`;
  const stop =
    `${mark ? `touch ${mark}; ` : ''}${r}${sg} kill ${n} ${shWord(sig)} >/dev/null 2>&1; end=$(($(date +%s)+${secs})); ` +
    `while [ $(date +%s) -lt $end ] && ${r} state ${n} >/dev/null 2>&1; do sleep 0.1; done; ` +
    `${r}${sg} delete -f ${n} >/dev/null 2>&1; exit 0`;
  return {
    EXEC_START: `/bin/sh -c ${quoteSystemdArg(start)}`,
    EXEC_STOP: `/bin/sh -c ${quoteSystemdArg(stop)}`,
    EXEC_STARTPRE: '',
    EXEC_STOPPOST: '',
    detached: false,
  };
}

const has = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
/** Own-property assignment that also works for a key like `__proto__`. */
const put = (o: Record<string, string>, k: string, v: string): void => {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
};

const SIGNAL = /^(?:(?:SIG)?[A-Z][A-Z0-9+-]{0,15}|[1-9][0-9]?)$/;

/** A StopSignal spelling ("SIGQUIT", "quit", "3") → runc kill's ("QUIT", "3"). Null when it is not a signal. */
export function normaliseSignal(s: string | undefined): string | null {
  if (s === undefined) return null;
  const t = s.trim().toUpperCase();
  return SIGNAL.test(t) ? t.replace(/^SIG/, '') : null;
}

/**
 * The clean-stop settings of the foreground form (docs/image-format.md, "PID 1 and signals"):
 * STOP_SIGNAL (`--set`, else the image's StopSignal, else TERM) and STOP_TIMEOUT (`--stop-timeout`
 * = `--set STOP_TIMEOUT=N`, default 10 s). Both are only read here; they are not template defaults.
 * The stop marker (RUN_DIRECTORY/atomic-stopping-NAME) tells the ExecStart wrapper that an exit is a requested stop.
 */
export function stopSettings(values: Record<string, string>, imageStopSignal?: string): { stopSignal: string; stopTimeout: number; stopMarker?: string } {
  let stopSignal = 'TERM';
  if (has(values, 'STOP_SIGNAL')) {
    const v = normaliseSignal(values.STOP_SIGNAL);
    if (v === null) throw new AtomicError('USAGE', `Invalid STOP_SIGNAL '${values.STOP_SIGNAL}': not a signal name or number`, { suggestions: ['Use e.g. --set STOP_SIGNAL=SIGQUIT (or TERM, INT, 3).'] });
    stopSignal = v;
  } else stopSignal = normaliseSignal(imageStopSignal) ?? 'TERM';
  let stopTimeout = FOREGROUND_STOP_GRACE_SECONDS;
  if (has(values, 'STOP_TIMEOUT')) {
    const t = values.STOP_TIMEOUT;
    if (!/^\d{1,4}$/.test(t) || Number(t) > 3600) throw new AtomicError('USAGE', `Invalid stop timeout '${t}': seconds from 0 to 3600`, { suggestions: ['Use --stop-timeout SECONDS (e.g. 10).'] });
    stopTimeout = Number(t);
  }
  const runDir = values.RUN_DIRECTORY ?? '/run';
  const stopMarker = `${runDir}/atomic-stopping-${values.NAME}`;
  return { stopSignal, stopTimeout, stopMarker };
}

/** All template values of a deployment (§2.8). Returns a new object; inputs are not modified. */
export function computeValues(inp: ValuesInput): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(inp.setValues)) put(values, k, String(v));

  // 1. manifest defaultValues, for keys not already set
  for (const [k, v] of Object.entries(inp.manifestDefaults ?? {})) {
    if (!has(values, k)) put(values, k, String(v));
  }

  // 2. OS defaults, for keys still absent
  const setDefault = (k: string, v: () => string): void => {
    if (!has(values, k)) values[k] = v();
  };
  setDefault('RUN_DIRECTORY', () => (inp.userMode ? inp.runDirectory || `/run/user/${inp.uid}` : '/run'));
  // os.path.sep.join([RUN_DIRECTORY, ...]): a plain join, no normalisation
  setDefault('PIDFILE', () => `${values.RUN_DIRECTORY}/container-${inp.name}.pid`);
  setDefault('CONF_DIRECTORY', () => (inp.userMode ? path.posix.join(inp.home, '.config') : '/etc'));
  setDefault('STATE_DIRECTORY', () => (inp.userMode ? path.posix.join(inp.home, '.data') : '/var/lib'));
  setDefault('ALL_PROCESS_CAPABILITIES', () => allProcessCapabilities(inp.capLastCap));
  setDefault('RUNTIME', () => inp.runtime);
  setDefault('ATOMIC', () => inp.atomicPath);
  setDefault('UUID', () => (inp.uuid ?? randomUUID)());

  // 3. forced values, always recomputed
  values.DESTDIR = inp.destDir;
  values.NAME = inp.name;
  const stop = stopSettings(values, inp.stopSignal);
  const d = execDirectives({
    name: inp.name,
    runtime: inp.runtime,
    pidfile: values.PIDFILE,
    userMode: inp.userMode,
    serviceTemplate: inp.serviceTemplate,
    runtimeFeatures: inp.runtimeFeatures,
    ...stop,
  });
  values.EXEC_START = d.EXEC_START;
  values.EXEC_STOP = d.EXEC_STOP;
  values.EXEC_STARTPRE = d.EXEC_STARTPRE;
  values.EXEC_STOPPOST = d.EXEC_STOPPOST;
  values.HOST_UID = String(inp.uid);
  values.HOST_GID = String(inp.gid);
  values.IMAGE_NAME = inp.imageName;
  values.IMAGE_ID = inp.imageId;
  return values;
}
