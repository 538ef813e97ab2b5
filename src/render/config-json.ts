/**
 * The OCI runtime configuration (`DEST/config.json`) of a deployment (reference §2.11):
 * a generated default when the image ships neither exports/config.json nor a template,
 * validation (the official runtime-spec JSON schema plus atomic's own rules), and the user-mode
 * user-namespace post-processing. Pure functions; the only I/O is reading the schema files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { AtomicError } from '../util/errors.js';
import { validatorForFiles, type SchemaSet } from './schema-validators.js';
import { atomicEnv } from '../util/env.js';

/* ------------------------------------------------------------------------------------------ */
/* Types (the subset we build or inspect; everything else passes through untouched)           */
/* ------------------------------------------------------------------------------------------ */

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  [k: string]: unknown;
}

export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface OciRuntimeConfig {
  ociVersion: string;
  process?: {
    terminal?: boolean;
    user: { uid: number; gid: number; additionalGids?: number[]; [k: string]: unknown };
    args?: string[];
    env?: string[];
    cwd: string;
    capabilities?: Record<string, string[]>;
    rlimits?: { type: string; hard: number; soft: number }[];
    noNewPrivileges?: boolean;
    [k: string]: unknown;
  };
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  mounts?: OciMount[];
  linux?: {
    namespaces?: { type: string; path?: string }[];
    uidMappings?: OciIdMapping[];
    gidMappings?: OciIdMapping[];
    resources?: Record<string, unknown>;
    maskedPaths?: string[];
    readonlyPaths?: string[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** The parts of an image config (`config` of the OCI image configuration) we use. */
export interface ImageRunConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string | null;
  User?: string | null;
}

/* ------------------------------------------------------------------------------------------ */
/* Generated default configuration                                                            */
/* ------------------------------------------------------------------------------------------ */

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Docker's default capability set (14), as granted to a default `docker run` container. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** `runc spec` (1.1.5) masked and read-only paths. */
const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface DefaultConfigOptions {
  userMode: boolean;
  /** Container hostname (atomic's `runc spec` gave "runc"; we use NAME). */
  hostname: string;
  /** Content of the image's /etc/passwd, to resolve a user name in `User` (optional). */
  passwd?: string;
  /** Content of the image's /etc/group, to resolve a group name in `User` (optional). */
  group?: string;
  /** Receives human-readable warnings (an unresolvable user name, no command in the image). */
  onWarning?: (message: string) => void;
}

function parseIdDb(text: string | undefined): { byName: Map<string, string[]>; byId: Map<number, string[]> } {
  const byName = new Map<string, string[]>();
  const byId = new Map<number, string[]>();
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3 || !/^[0-9]+$/.test(f[2])) continue;
    if (!byName.has(f[0])) byName.set(f[0], f);
    const id = Number(f[2]);
    if (!byId.has(id)) byId.set(id, f);
  }
  return { byName, byId };
}

const isNumericId = (s: string): boolean => /^[0-9]+$/.test(s) && Number(s) <= 0xffffffff;

/**
 * Resolve the image's `User` ("uid", "uid:gid", "name", "name:group", ...). Numeric ids are used
 * as is (a lone uid takes its passwd gid when known, else 0, like Docker). Names are looked up in
 * the given passwd/group contents; an unresolvable name runs as 0 and adds a warning.
 */
export function resolveImageUser(user: string | null | undefined, dbs: { passwd?: string; group?: string } = {}): { uid: number; gid: number; warnings: string[] } {
  const warnings: string[] = [];
  if (!user) return { uid: 0, gid: 0, warnings };
  const [u, g] = user.split(':', 2) as [string, string | undefined];
  const passwd = parseIdDb(dbs.passwd);
  let uid = 0;
  let gid: number | undefined;
  if (isNumericId(u)) {
    uid = Number(u);
    const e = passwd.byId.get(uid);
    if (e && /^[0-9]+$/.test(e[3] ?? '')) gid = Number(e[3]);
  } else if (u !== '') {
    const e = passwd.byName.get(u);
    if (e) {
      uid = Number(e[2]);
      if (/^[0-9]+$/.test(e[3] ?? '')) gid = Number(e[3]);
    } else {
      warnings.push(`The image's user "${u}" cannot be resolved to a numeric uid (no such entry in the image's /etc/passwd); the container will run as uid 0. Ship an exports/config.json or config.json.template to choose the user.`);
    }
  }
  if (g !== undefined && g !== '') {
    if (isNumericId(g)) gid = Number(g);
    else {
      const e = parseIdDb(dbs.group).byName.get(g);
      if (e) gid = Number(e[2]);
      else {
        warnings.push(`The image's group "${g}" cannot be resolved to a numeric gid (no such entry in the image's /etc/group); using gid 0.`);
        gid = 0;
      }
    }
  }
  return { uid, gid: gid ?? 0, warnings };
}

/**
 * A default OCI runtime-spec 1.0.2 configuration for an image without exports/config.json(.template),
 * accepted by runc 1.1.5. atomic ran `runc spec --rootless` and replaced the command with
 * `["run.sh"]`; we build it from the image configuration instead:
 * - process.args = Entrypoint + Cmd; when both are empty, atomic's `["run.sh"]` (found via PATH,
 *   its convention for system-container images) and a warning;
 * - env = the image Env, with the default PATH prepended when the image sets none;
 * - cwd = WorkingDir (made absolute), default "/"; user from `User` (see resolveImageUser);
 * - terminal false, root {path "rootfs", readonly true}, hostname = opts.hostname;
 * - mounts: runc's set (proc, /dev tmpfs, devpts, /dev/shm, mqueue, sysfs ro, cgroup ro) plus tmpfs
 *   on /tmp and /run, needed by services on a read-only rootfs;
 * - Docker's 14 default capabilities (bounding/effective/permitted), noNewPrivileges, NOFILE 1024;
 * - namespaces pid, ipc, uts, mount: the HOST network is shared (no network namespace), like the
 *   system-container test images' configs — a system container is a host service; atomic's
 *   `runc spec` default gave an unconfigured, loopback-only network namespace instead;
 * - maskedPaths/readonlyPaths of `runc spec`; root mode denies all devices (runc adds its defaults).
 * User mode follows `runc spec --rootless` (no devpts gid=5, /sys bind-mounted, no device cgroup
 * rules); the user namespace and id mappings are added by configureUserNamespace (as atomic did
 * for every user-mode config). Warnings go to `opts.onWarning`.
 */
export function generateDefaultConfig(imageConfig: ImageRunConfig | null, opts: DefaultConfigOptions): OciRuntimeConfig {
  const ic: ImageRunConfig = imageConfig ?? {};
  const warnings: string[] = [];

  let args = [...(ic.Entrypoint ?? []), ...(ic.Cmd ?? [])];
  if (args.length === 0) {
    args = ['run.sh'];
    warnings.push('The image has no Entrypoint or Cmd; the generated config.json runs "run.sh" (atomic\'s default).');
  }

  const env = [...(ic.Env ?? [])];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);

  let cwd = ic.WorkingDir && ic.WorkingDir.trim() !== '' ? ic.WorkingDir : '/';
  if (!cwd.startsWith('/')) cwd = '/' + cwd;

  const user = resolveImageUser(ic.User, { passwd: opts.passwd, group: opts.group });
  warnings.push(...user.warnings);

  const caps = [...DEFAULT_CAPABILITIES];
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(opts.userMode ? [] : ['gid=5'])],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    opts.userMode
      ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755'] },
  ];

  const config: OciRuntimeConfig = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid },
      args,
      env,
      cwd,
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: opts.hostname,
    mounts,
    linux: {
      ...(opts.userMode ? {} : { resources: { devices: [{ allow: false, access: 'rwm' }] } }),
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
  };
  for (const w of warnings) opts.onWarning?.(w);
  return config;
}

/* ------------------------------------------------------------------------------------------ */
/* Validation                                                                                 */
/* ------------------------------------------------------------------------------------------ */

const here = path.dirname(fileURLToPath(import.meta.url));

/** The project (package) root: the first ancestor of this module holding package.json. */
function projectRoot(): string | null {
  let d = here;
  for (;;) {
    if (fs.existsSync(path.join(d, 'package.json'))) return d;
    const up = path.dirname(d);
    if (up === d) return null;
    d = up;
  }
}

const ROOT_SCHEMA = 'config-schema.json';

/**
 * Where the runtime-spec schemas are read from, first match:
 * $ATOMIC_OCI_SCHEMAS (either the oci-schemas dir holding `runtime-spec/`, or the runtime-spec dir
 * itself), `<package>/schemas/oci-runtime-spec` (shipped copy), `<package>/../shared/oci-schemas/runtime-spec`.
 */
export function runtimeSpecSchemaDir(env: NodeJS.ProcessEnv = process.env): string {
  const candidates: string[] = [];
  const o = atomicEnv('ATOMIC_OCI_SCHEMAS', env);
  if (o) candidates.push(path.join(o, 'runtime-spec'), o);
  const root = projectRoot();
  if (root) candidates.push(path.join(root, 'schemas', 'oci-runtime-spec'), path.join(root, '..', 'shared', 'oci-schemas', 'runtime-spec'));
  for (const c of candidates) if (fs.existsSync(path.join(c, ROOT_SCHEMA))) return c;
  throw new AtomicError('INTERNAL', `Cannot find the OCI runtime-spec JSON schemas (looked in: ${candidates.join(', ')})`, {
    suggestions: ['Set ATOMIC_OCI_SCHEMAS to a directory holding the runtime-spec schemas (config-schema.json, defs.json, ...).'],
  });
}

const SCHEMA_BASE = 'https://atomic-sc.invalid/oci-runtime-spec/';
const validators = new Map<string, ValidateFunction>();

const RUNTIME_SPEC_KEY = 'oci-runtime-config';

/** The runtime-spec schema files of DIR (every *.json), in the order runtimeSpecSchemaSet reads them. */
export function runtimeSpecSchemaFiles(dir: string): string[] {
  return fs.readdirSync(dir).sort().filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f));
}

/** The runtime-spec schemas of DIR as one set (every file registered by id), validating with config-schema.json. */
export function runtimeSpecSchemaSet(dir: string): SchemaSet {
  const schemas: Record<string, unknown>[] = [];
  const files = runtimeSpecSchemaFiles(dir);
  for (const file of files) {
    const schema = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    delete schema.$schema; // draft-04 is the instance's default meta-schema
    schema.id = SCHEMA_BASE + path.basename(file);
    schemas.push(schema);
  }
  return { key: RUNTIME_SPEC_KEY, draft: '04', options: { allErrors: true, strict: false, validateFormats: false }, schemas, rootId: SCHEMA_BASE + ROOT_SCHEMA, files };
}

/** The validator of the runtime-spec `config-schema.json` (compiled at build time for the shipped schemas). */
export function runtimeConfigValidator(dir: string = runtimeSpecSchemaDir()): ValidateFunction {
  const cached = validators.get(dir);
  if (cached) return cached;
  const v = validatorForFiles(RUNTIME_SPEC_KEY, runtimeSpecSchemaFiles(dir), () => runtimeSpecSchemaSet(dir));
  if (!v) throw new AtomicError('INTERNAL', `The OCI runtime-spec schema ${path.join(dir, ROOT_SCHEMA)} could not be compiled`);
  validators.set(dir, v);
  return v;
}

/** "instancePath: message" lines of ajv errors, deduplicated; shared with exports-manifest.ts. */
export function formatSchemaErrors(errors: ErrorObject[] | null | undefined, max = 25): string[] {
  const lines: string[] = [];
  for (const e of errors ?? []) {
    const p = e.params as Record<string, unknown>;
    let msg = e.message ?? 'is invalid';
    if (typeof p.additionalProperty === 'string') msg += ` ('${p.additionalProperty}')`;
    if (Array.isArray(p.allowedValues)) msg += ` (${p.allowedValues.map((x) => JSON.stringify(x)).join(', ')})`;
    const line = `${e.instancePath || '/'}: ${msg}`;
    if (!lines.includes(line)) lines.push(line);
  }
  if (lines.length > max) return [...lines.slice(0, max), `... and ${lines.length - max} more`];
  return lines;
}

export interface ValidateOptions {
  /** `--rootfs` (remote) containers may have any root.path. */
  remote: boolean;
  /** The file the config came from (for messages). */
  file: string;
  /** Existence check for bind-mount sources; without it every absolute bind source is returned. */
  exists?: (p: string) => boolean;
  /** Schema directory override (tests); default runtimeSpecSchemaDir(). */
  schemaDir?: string;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

/**
 * The config as runc reads it: Go's encoding/json leaves a field whose value is `null` at its zero
 * value, i.e. absent (`"devices": null` in atomic's own test templates), and runc turns seccomp
 * off when it has neither a defaultAction nor syscalls (`"seccomp": {"defaultAction": ""}`, same
 * templates). The schema check sees the config as runc reads it; the file is left as written.
 */
function asRuncReadsIt(config: Record<string, unknown>): unknown {
  const c = withoutNullMembers(config) as Record<string, unknown>;
  // runc (libcontainer/specconv SetupSeccomp): no default action and no syscalls = seccomp off
  const linux = c.linux;
  if (isObject(linux) && isObject(linux.seccomp)) {
    const sc = linux.seccomp;
    if (sc.defaultAction === '' && (!Array.isArray(sc.syscalls) || sc.syscalls.length === 0)) {
      const { seccomp: _off, ...rest } = linux;
      c.linux = rest;
    }
  }
  return c;
}

function withoutNullMembers(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(withoutNullMembers);
  if (!isObject(x)) return x;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(x)) if (v !== null) out[k] = withoutNullMembers(v);
  return out;
}

/**
 * Validate a config.json: atomic's rules first, with its exact messages (an empty `{}` is accepted,
 * as atomic did; otherwise root.readonly must be true and root.path "rootfs" unless remote), then
 * the official runtime-spec schema (one SCHEMA_INVALID error listing every problem, naming the
 * file). Returns the absolute `source` of every mount whose `type` contains "bind" and for which
 * `exists` says false (atomic generated tmpfiles `d` lines for those).
 */
export function validateRuntimeConfig(config: unknown, opts: ValidateOptions): { missingBindSources: string[] } {
  if (!isObject(config)) {
    throw new AtomicError('SCHEMA_INVALID', `Invalid configuration file ${opts.file}: the top level must be a JSON object`, { ref: opts.file });
  }
  if (Object.keys(config).length === 0) return { missingBindSources: [] };

  const root = config.root;
  if (!isObject(root) || root.readonly !== true) {
    throw new AtomicError('IMAGE_UNSUPPORTED', 'Invalid configuration file.  Only readonly images are supported', {
      suggestions: [`Set "root": {"readonly": true} in ${opts.file}.`],
      ref: opts.file,
    });
  }
  if (root.path !== 'rootfs' && !opts.remote) {
    throw new AtomicError('IMAGE_UNSUPPORTED', "Invalid configuration file.  Path must be 'rootfs'", {
      suggestions: [`Set "root": {"path": "rootfs"} in ${opts.file}.`],
      ref: opts.file,
    });
  }

  const validate = runtimeConfigValidator(opts.schemaDir ?? runtimeSpecSchemaDir());
  if (!validate(asRuncReadsIt(config))) {
    const lines = formatSchemaErrors(validate.errors);
    throw new AtomicError('SCHEMA_INVALID', `Invalid configuration file ${opts.file} (OCI runtime-spec schema):\n${lines.map((l) => `  ${l}`).join('\n')}`, {
      suggestions: ['Fix the config.json (or config.json.template) shipped in the image\'s /exports.'],
      ref: opts.file,
    });
  }

  const missingBindSources: string[] = [];
  const mounts = Array.isArray(config.mounts) ? config.mounts : [];
  for (const m of mounts) {
    if (!isObject(m) || typeof m.type !== 'string' || typeof m.source !== 'string') continue;
    if (!m.type.includes('bind') || !path.posix.isAbsolute(m.source)) continue;
    if (opts.exists && opts.exists(m.source)) continue;
    missingBindSources.push(m.source);
  }
  return { missingBindSources };
}

/* ------------------------------------------------------------------------------------------ */
/* User namespace (user mode)                                                                 */
/* ------------------------------------------------------------------------------------------ */

export interface SubIdRange {
  start: number;
  count: number;
}

/**
 * The first `/etc/subuid` or `/etc/subgid` range of a user (`name:start:count`; a line keyed by
 * the numeric id also matches when `id` is given). null when there is none.
 */
export function parseSubIdFile(text: string, user: string, id?: number): SubIdRange | null {
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length !== 3) continue;
    if (f[0] !== user && (id === undefined || f[0] !== String(id))) continue;
    if (!/^[0-9]+$/.test(f[1]) || !/^[0-9]+$/.test(f[2])) continue;
    return { start: Number(f[1]), count: Number(f[2]) };
  }
  return null;
}

const ALL_NAMESPACES = ['pid', 'uts', 'network', 'mount', 'ipc', 'user'];

/**
 * atomic's `_configure_userns`, for user-mode containers; returns a modified deep copy:
 * drop the network namespace (host network), add a user namespace; when any of
 * pid/uts/network/mount/ipc/user is not unshared (always, since network was dropped) drop every
 * `/sys*` mount and add a read-only rbind of /sys; add nodev,nosuid to every mount whose
 * destination does not start with "/dev"; drop linux.resources.devices; set uidMappings /
 * gidMappings when absent to `0 -> uid/gid (size 1)` plus `1 -> subordinate range`.
 * Fix: atomic used the uid as the host id of the gid mapping; we use the gid.
 */
export function configureUserNamespace(config: OciRuntimeConfig | Record<string, unknown>, uid: number, gid: number, subuid?: SubIdRange | null, subgid?: SubIdRange | null): OciRuntimeConfig {
  const c = structuredClone(config) as OciRuntimeConfig;
  const linux = (c.linux ??= {});
  const namespaces = (linux.namespaces ?? []).filter((n) => n.type !== 'network');
  const present = new Set(namespaces.map((n) => n.type));
  if (!present.has('user')) {
    namespaces.push({ type: 'user' });
    present.add('user');
  }
  linux.namespaces = namespaces;
  const dropSys = ALL_NAMESPACES.some((n) => !present.has(n));

  const mounts: OciMount[] = [];
  for (const m of c.mounts ?? []) {
    if (dropSys && m.destination.startsWith('/sys')) continue;
    if (!m.options) m.options = [];
    if (!m.destination.startsWith('/dev')) {
      if (!m.options.includes('nodev')) m.options.push('nodev');
      if (!m.options.includes('nosuid')) m.options.push('nosuid');
    }
    mounts.push(m);
  }
  if (dropSys) mounts.push({ destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
  c.mounts = mounts;

  if (linux.resources && 'devices' in linux.resources) delete linux.resources.devices;

  const mapping = (hostId: number, range?: SubIdRange | null): OciIdMapping[] => {
    const r: OciIdMapping[] = [{ containerID: 0, hostID: hostId, size: 1 }];
    if (range) r.push({ containerID: 1, hostID: range.start, size: range.count });
    return r;
  };
  if (!linux.uidMappings) linux.uidMappings = mapping(uid, subuid);
  if (!linux.gidMappings) linux.gidMappings = mapping(gid, subgid);
  return c;
}
