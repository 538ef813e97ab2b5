/**
 * Readiness probes of a running container and the state of its systemd unit, for the health gate
 * of `containers update` / `rollback` (deploy/health-gate.ts):
 *   http  GET URL (127.0.0.1 / any host the URL names), healthy on a 2xx/3xx status;
 *   tcp   a TCP connection to HOST:PORT is accepted;
 *   exec  `<runtime> exec NAME CMD...` inside the running container exits 0.
 * Every probe is bounded by its timeout and returns what it saw (status line, error, output), so a
 * failure can be shown to the operator as it is.
 */
import { spawn, spawnSync } from 'node:child_process';
import { atomicEnv } from '../util/env.js';

export interface ProbeResult {
  ok: boolean;
  /** What the probe saw: "HTTP 404 Not Found", "connect ECONNREFUSED 127.0.0.1:8080", the command's output. */
  output: string;
}

/**
 * What a container said (probe output, journal lines) made safe for the operator's terminal:
 * control characters (ESC sequences that would move the cursor, retitle or rewrite the terminal,
 * a CR that hides text) are shown as \xNN; tab and newline stay.
 */
export function terminalSafe(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

// node:http, node:https and node:net are loaded by the probes that use them (~10-15 ms of start-up
// otherwise, for every install, update and rollback that never probes)
export async function httpProbe(url: string, timeoutMs: number): Promise<ProbeResult> {
  const [http, https] = await Promise.all([import('node:http'), import('node:https')]);
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ProbeResult): void => {
      if (!done) {
        done = true;
        resolve(r);
      }
    };
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      finish({ ok: false, output: `invalid URL ${url}` });
      return;
    }
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.get(u, { timeout: timeoutMs, agent: false, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 512) body += c;
      });
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        const first = body.split('\n')[0]?.trim() ?? '';
        finish({ ok: code >= 200 && code < 400, output: `GET ${url}: HTTP ${code} ${res.statusMessage ?? ''}`.trim() + (first ? ` (${first.slice(0, 120)})` : '') });
      });
      res.on('error', (e) => finish({ ok: false, output: `GET ${url}: ${e.message}` }));
    });
    req.on('timeout', () => {
      req.destroy();
      finish({ ok: false, output: `GET ${url}: no answer within ${timeoutMs} ms` });
    });
    req.on('error', (e) => finish({ ok: false, output: `GET ${url}: ${e.message}` }));
  });
}

/** `address` is HOST:PORT, [V6]:PORT or PORT (127.0.0.1). */
export async function tcpProbe(address: string, timeoutMs: number): Promise<ProbeResult> {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address) ?? /^()()(\d+)$/.exec(address);
  if (!m) return { ok: false, output: `invalid TCP address ${address} (HOST:PORT)` };
  const host = m[1] || m[2] || '127.0.0.1';
  const port = Number(m[3]);
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve({ ok: false, output: `connect ${host}:${port}: no answer within ${timeoutMs} ms` });
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve({ ok: true, output: `connect ${host}:${port}: accepted` });
    });
    s.once('error', (e) => {
      clearTimeout(t);
      resolve({ ok: false, output: `connect ${host}:${port}: ${e.message}` });
    });
  });
}

/** `<runtime> exec NAME ARGS...` with a timeout (the process is killed when it is exceeded). */
export function execProbe(runtime: string, name: string, args: string[], timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const c = spawn(runtime, ['exec', name, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const add = (d: Buffer): void => {
      if (out.length < 4096) out += d.toString('utf8');
    };
    c.stdout.on('data', add);
    c.stderr.on('data', add);
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('error', (e) => {
      clearTimeout(t);
      resolve({ ok: false, output: `${runtime} exec ${name}: ${e.message}` });
    });
    c.on('close', (code, sig) => {
      clearTimeout(t);
      const what = sig ? `killed by ${sig}${sig === 'SIGKILL' ? ` (timeout ${timeoutMs} ms)` : ''}` : `exit ${code}`;
      resolve({ ok: code === 0, output: `exec ${args.join(' ')}: ${what}${out.trim() ? `: ${out.trim().slice(-1000)}` : ''}` });
    });
  });
}

export interface UnitStatus {
  activeState: string;
  subState: string;
  result: string;
  nRestarts: number;
  mainPid: number;
  execMainStatus: string;
}

/** `systemctl show` of the properties the gate watches (quiet). */
export function unitStatus(unit: string, user: boolean): UnitStatus {
  const r = spawnSync(atomicEnv('ATOMIC_SYSTEMCTL') ?? 'systemctl', [...(user ? ['--user'] : []), 'show', '-p', 'ActiveState,SubState,Result,NRestarts,MainPID,ExecMainStatus', unit], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 30_000,
  });
  const p: Record<string, string> = {};
  for (const l of (r.stdout ?? '').split('\n')) {
    const eq = l.indexOf('=');
    if (eq > 0) p[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return {
    activeState: p.ActiveState ?? 'unknown',
    subState: p.SubState ?? 'unknown',
    result: p.Result ?? '',
    nRestarts: Number(p.NRestarts ?? 0) || 0,
    mainPid: Number(p.MainPID ?? 0) || 0,
    execMainStatus: p.ExecMainStatus ?? '',
  };
}

/** The last `n` journal lines of the unit since `sinceMs` (epoch ms); [] when journalctl is missing. */
export function unitJournal(unit: string, user: boolean, n: number, sinceMs?: number): string[] {
  const args = ['--no-pager', '-q', '-n', String(n), '-o', 'short-iso', user ? '--user-unit' : '-u', unit];
  if (sinceMs !== undefined) args.push(`--since=@${Math.floor(sinceMs / 1000)}`);
  const r = spawnSync('journalctl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 });
  return (r.stdout ?? '')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('-- '))
    .map(terminalSafe);
}
