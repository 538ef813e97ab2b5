/**
 * `network=bridge` (docs/options.md): a container's network namespace wired by the CNI plugins
 * Debian ships (containernetworking-plugins: bridge + host-local IPAM, portmap). We are the CNI
 * runtime: the plugins of one conflist are run in order with the previous result chained in
 * (CNI spec 1.0, as libcni does), `runtimeConfig.portMappings` given to the plugins that declare
 * the capability; the final result is kept under /run/atomic-cni so the release (DEL, in reverse
 * order) sees what was attached. The namespace itself is an `ip netns` one, so config.json can
 * name its path and runc joins it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { AtomicError } from '../util/errors.js';
import { atomicWriteSync } from '../util/atomic-write.js';
import { atomicEnv } from '../util/env.js';

export interface CniPort {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
  /** 127.0.0.1 for access=private; undefined: all addresses. */
  hostIP?: string;
}

export const CNI_NETWORK = 'atomic';
export const CNI_BRIDGE = 'atomic0';
export const CNI_SUBNET = '10.89.0.0/24';
const CNI_VERSION = '1.0.0';

function stateDir(): string {
  return atomicEnv('ATOMIC_CNI_STATE') ?? '/run/atomic-cni';
}

function cniPath(): string[] {
  return (atomicEnv('ATOMIC_CNI_PATH') ?? process.env.CNI_PATH ?? '/usr/lib/cni:/opt/cni/bin').split(':').filter(Boolean);
}

export function netnsPath(netns: string): string {
  return `/run/netns/${netns}`;
}

/** The conflist we attach with (also written to the state dir, for inspection). */
export function cniConflist(): Record<string, unknown> {
  return {
    cniVersion: CNI_VERSION,
    name: CNI_NETWORK,
    plugins: [
      {
        type: 'bridge',
        bridge: CNI_BRIDGE,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: CNI_SUBNET }]], routes: [{ dst: '0.0.0.0/0' }] },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

function pluginBinary(type: string): string {
  for (const d of cniPath()) {
    const p = path.join(d, type);
    if (fs.existsSync(p)) return p;
  }
  throw new AtomicError('NOT_FOUND', `the CNI plugin '${type}' was not found in ${cniPath().join(':')}`, {
    suggestions: ['Install the CNI plugins: apt-get install containernetworking-plugins (or set ATOMIC_CNI_PATH).'],
  });
}

function run(cmd: string, args: string[], what: string, input?: string, env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: input ?? '', env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.status !== 0) {
    let why = (r.stderr || r.error?.message || `exit ${r.status}`).trim();
    try {
      const j = JSON.parse(r.stdout) as { msg?: string; details?: string };
      if (j.msg) why = `${j.msg}${j.details ? `: ${j.details}` : ''}`;
    } catch {
      /* not a CNI error object */
    }
    throw new AtomicError('IO', `${what} failed: ${why}`, {
      suggestions: ['Check that the CNI plugins (containernetworking-plugins) and iptables are installed and that this runs as root.'],
    });
  }
  return r.stdout;
}

function callPlugin(
  cmd: 'ADD' | 'DEL',
  plugin: Record<string, unknown>,
  list: Record<string, unknown>,
  containerId: string,
  netns: string,
  prevResult: unknown,
  ports: CniPort[],
): unknown {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  delete conf.capabilities;
  if (prevResult !== undefined && prevResult !== null) conf.prevResult = prevResult;
  if ((plugin.capabilities as Record<string, boolean> | undefined)?.portMappings) conf.runtimeConfig = { portMappings: ports };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CNI_COMMAND: cmd,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: netnsPath(netns),
    CNI_IFNAME: 'eth0',
    CNI_PATH: cniPath().join(':'),
  };
  const out = run(pluginBinary(String(plugin.type)), [], `CNI ${cmd} (${String(plugin.type)}) for ${containerId}`, JSON.stringify(conf), env);
  return cmd === 'ADD' && out.trim() ? JSON.parse(out) : prevResult;
}

interface CniState {
  netns: string;
  ports: CniPort[];
  conflist: Record<string, unknown>;
  result: unknown;
}

function stateFile(containerId: string): string {
  return path.join(stateDir(), `${containerId}.json`);
}

/**
 * The state directory: created 0700; an existing one must be a real directory (not a symlink)
 * owned by us and not writable by others, as what it holds decides which plugins run and which
 * namespace is deleted.
 */
function ensureStateDir(): void {
  const dir = stateDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  const me = process.geteuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== me || (st.mode & 0o022) !== 0) {
    throw new AtomicError(
      'UNSAFE_PATH',
      `the CNI state directory ${dir} is ${!st.isDirectory() ? 'not a directory (a symlink?)' : st.uid !== me ? `owned by uid ${st.uid}, not ${me}` : 'writable by group or others'}`,
      {
        suggestions: [`Remove ${dir} (it only holds the attachments of running containers; stop them first) and start the containers again.`],
        ref: dir,
      },
    );
  }
}

/** The plugins we run: a state file may not name others (their binaries are looked up by this name). */
const KNOWN_PLUGINS = new Set(['bridge', 'portmap']);

/**
 * The attachment of CONTAINERID (its result: IPs, ports), or null. A state file that is not a
 * regular file, names another namespace than NETNS or plugins we do not run is ignored: the
 * release then uses our own conflist and namespace name.
 */
export function cniState(containerId: string, netns?: string): CniState | null {
  try {
    const file = stateFile(containerId);
    if (!fs.lstatSync(file).isFile()) return null;
    const st = JSON.parse(fs.readFileSync(file, 'utf8')) as CniState;
    const plugins = (st?.conflist as { plugins?: unknown } | undefined)?.plugins;
    if (!Array.isArray(plugins) || !plugins.every((p) => typeof p === 'object' && p !== null && KNOWN_PLUGINS.has(String((p as { type?: unknown }).type)))) return null;
    if (typeof st.netns !== 'string' || (netns !== undefined && st.netns !== netns)) return null;
    return st;
  } catch {
    return null;
  }
}

function netnsExists(netns: string): boolean {
  return fs.existsSync(netnsPath(netns));
}

/**
 * Create (or re-create) the namespace NETNS, bring its loopback up and attach it to the bridge
 * with PORTS published. A leftover attachment (a crash before the release) is released first.
 */
export function cniAttach(containerId: string, netns: string, ports: CniPort[]): unknown {
  if (cniState(containerId, netns) !== null || netnsExists(netns)) cniRelease(containerId, netns);
  run('ip', ['netns', 'add', netns], `ip netns add ${netns}`);
  const list = cniConflist();
  let result: unknown = null;
  const done: Record<string, unknown>[] = [];
  try {
    run('ip', ['-n', netns, 'link', 'set', 'lo', 'up'], `ip -n ${netns} link set lo up`);
    for (const p of list.plugins as Record<string, unknown>[]) {
      result = callPlugin('ADD', p, list, containerId, netns, result, ports);
      done.push(p);
    }
  } catch (e) {
    for (const p of done.reverse()) {
      try {
        callPlugin('DEL', p, list, containerId, netns, result, ports);
      } catch {
        /* best effort */
      }
    }
    spawnSync('ip', ['netns', 'delete', netns], { stdio: 'ignore' });
    throw e;
  }
  ensureStateDir();
  const state: CniState = { netns, ports, conflist: list, result };
  atomicWriteSync(stateFile(containerId), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  return result;
}

/** Detach (CNI DEL in reverse order, with the recorded result) and delete the namespace; idempotent. */
export function cniRelease(containerId: string, netns: string): void {
  const st = cniState(containerId, netns);
  const list = st?.conflist ?? cniConflist();
  const errors: string[] = [];
  for (const p of [...(list.plugins as Record<string, unknown>[])].reverse()) {
    try {
      callPlugin('DEL', p, list, containerId, st?.netns ?? netns, st?.result ?? null, st?.ports ?? []);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  if (netnsExists(st?.netns ?? netns)) spawnSync('ip', ['netns', 'delete', st?.netns ?? netns], { stdio: 'ignore' });
  fs.rmSync(stateFile(containerId), { force: true });
  if (errors.length > 0 && st !== null) throw new AtomicError('IO', `releasing the network of ${containerId}: ${errors.join('; ')}`);
}
