/**
 * Helpers of the system suite (test/system), which runs inside a throw-away systemd
 * (../shared/systemd-harness/with-systemd, see scripts/test-system.sh): the real CLI on the real
 * paths of that machine (/var/lib/containers/atomic, /etc/systemd/system, ...), real systemctl,
 * real runc, a real registry on 127.0.0.1.
 */
import { spawnSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { BIN, SHARED } from './fixtures.js';

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Inside the harness: systemd is PID 1 and we are root. */
export function underSystemd(): boolean {
  try {
    return fs.readFileSync('/proc/1/comm', 'utf8').trim() === 'systemd' && process.getuid?.() === 0;
  } catch {
    return false;
  }
}

export function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeout?: number } = {}): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: opts.env ?? process.env, input: opts.input ?? '', timeout: opts.timeout ?? 120_000 });
  return { status: r.status ?? (r.signal ? 128 + 9 : -1), stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

/** The environment of a plain `atomic` call on this host: none of the tests' path overrides. */
export function hostEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of ['ATOMIC_SYSROOT', 'ATOMIC_OSTREE_REPO', 'ATOMIC_OSTREE_CHECKOUT_PATH', 'ATOMIC_CONF', 'ATOMIC_FAULT', 'ATOMIC_FAULT_AT', 'ATOMIC_FAULT_TRACE']) {
    if (!(k in extra)) delete env[k];
  }
  return env;
}

/** `atomic ARGS` on the real paths of this (throw-away) machine. */
export function atomicHost(args: string[], extra: Record<string, string> = {}): Run {
  return sh(process.execPath, [BIN, ...args], { env: hostEnv(extra) });
}

/** An unused TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
  });
}

/** GET http://127.0.0.1:PORT/PATH; null when nothing answers. */
export function httpGet(port: number, p = '/', timeoutMs = 1500): Promise<string | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `f` until it returns a truthy value or `ms` passed; returns the last value. */
export async function waitFor<T>(f: () => T | Promise<T>, ms = 10_000, step = 100): Promise<T> {
  const end = Date.now() + ms;
  let v = await f();
  while (!v && Date.now() < end) {
    await sleep(step);
    v = await f();
  }
  return v;
}

/** The body served on PORT, once it answers (or null after `ms`). */
export async function waitHttp(port: number, want?: RegExp, ms = 10_000): Promise<string | null> {
  let last: string | null = null;
  await waitFor(async () => {
    last = await httpGet(port);
    return last !== null && (!want || want.test(last));
  }, ms);
  return last;
}

/** Wait until nothing answers on PORT. */
export async function waitClosed(port: number, ms = 10_000): Promise<boolean> {
  return waitFor(async () => (await httpGet(port, '/', 500)) === null, ms);
}

export function systemctl(...args: string[]): Run {
  return sh('systemctl', ['--no-pager', ...args]);
}

export function unitState(name: string): string {
  return systemctl('is-active', name).stdout.trim();
}

/** `runc list -q`: the ids the runtime has state for. */
export function runcIds(): string[] {
  return sh('runc', ['list', '-q']).stdout.split('\n').filter(Boolean);
}

/** Processes whose cgroup path mentions `needle` (e.g. "hello.service", "runc-hello.scope"). */
export function processesInCgroup(needle: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cg = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      if (cg.split('\n').some((l) => l.startsWith('0::') && l.includes(needle))) out.push(`${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** cgroup v2 directories anywhere below /sys/fs/cgroup whose name contains `needle`. */
export function cgroupsNamed(needle: string): string[] {
  const root = fs.existsSync('/sys/fs/cgroup/cgroup.procs') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 4) return;
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const n of names) {
      if (!n.isDirectory()) continue;
      const p = path.join(d, n.name);
      if (n.name.includes(needle)) out.push(p);
      walk(p, depth + 1);
    }
  };
  walk(root, 0);
  return out;
}

export function ostreeFsck(repo: string): Run {
  return sh('ostree', ['fsck', '--quiet', `--repo=${repo}`], { env: { ...process.env, LC_ALL: 'C.UTF-8' } });
}

export interface Registry {
  port: number;
  host: string;
  stop(): void;
}

/** The shared fixture registry (CNCF distribution + Bearer token server) on free ports, with the fixtures pushed. */
export async function startRegistry(fixtures: string, dir: string): Promise<Registry> {
  const port = await freePort();
  let tokenPort = await freePort();
  while (tokenPort === port) tokenPort = await freePort();
  const script = path.join(SHARED, 'fixtures', 'registry.sh');
  const env = { ...process.env, REG_DIR: dir, REG_PORT: String(port), TOKEN_PORT: String(tokenPort), REG_AUTH: 'token' };
  const up = sh('bash', [script, 'start'], { env });
  if (up.status !== 0) throw new Error(`registry.sh start failed: ${up.stderr}${up.stdout}`);
  const push = sh('bash', [script, 'push', fixtures], { env, timeout: 300_000 });
  if (push.status !== 0) {
    sh('bash', [script, 'stop'], { env });
    throw new Error(`registry.sh push failed: ${push.stderr}`);
  }
  return { port, host: `127.0.0.1:${port}`, stop: () => void sh('bash', [script, 'stop'], { env }) };
}

/** Start a detached child (not waited for); used for parallel CLI runs. */
export function spawnAtomic(args: string[], extra: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { env: hostEnv(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('close', (code, sig) => resolve({ status: code ?? (sig === 'SIGKILL' ? 137 : 128), stdout, stderr }));
  });
}
