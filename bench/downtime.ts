/**
 * Service downtime during `atomic containers update` of a running container, under a real
 * systemd (run inside ../shared/systemd-harness/with-systemd by bench/run.ts):
 *   node dist/bench/downtime.js OCI_FIXTURES_DIR RUNS
 * Installs the fixture `systest` image (an HTTP server on $PORT) as a system container, starts it,
 * then probes the port every 10 ms while (a) `atomic containers update --set RECEIVER=…` runs and
 * (b) `systemctl restart` of the same unit runs (the process's own restart time, the anchor).
 * Downtime = the longest run of failed probes (first failure to next success). Prints JSON.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const [fx, runsArg] = process.argv.slice(2);
const RUNS = Number(runsArg ?? 3);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'bin', 'run.js');
const NAME = 'benchdown';
const env = { ...process.env };
for (const k of ['ATOMIC_SYSROOT', 'ATOMIC_OSTREE_REPO', 'ATOMIC_OSTREE_CHECKOUT_PATH', 'ATOMIC_CONF']) delete env[k];

function atomic(args: string[]): void {
  const r = spawnSync(BIN, [...args], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`atomic ${args.join(' ')}: ${r.stderr}${r.stdout}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: 200, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
      // a server stopped in the middle of the response: a failed probe (without this the promise
      // never settled and the bench child ended with node's exit 13, an unsettled top-level await)
      res.on('close', () => resolve(res.complete && res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function waitUp(port: number): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await probe(port)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`port ${port} never answered`);
}

/**
 * Longest gap (s) of the port while CMD runs, probing every 10 ms; waits for the port afterwards,
 * and probes on until at least MIN_WINDOW_MS have passed since the start: an update watches its
 * new container for seconds after the restart, and a stray slow answer of this loaded machine in
 * that time counted against it only. The restart is probed over the update's window.
 */
async function downtimeDuring(port: number, cmd: string, args: string[], minWindowMs = 0): Promise<{ gap: number; windowMs: number }> {
  await waitUp(port);
  let done = false;
  let failedSince: number | null = null;
  let longest = 0;
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
  void exited.then(() => (done = true));
  const t0 = performance.now();
  for (;;) {
    const t = performance.now();
    const ok = await probe(port);
    const now = performance.now();
    if (!ok && failedSince === null) failedSince = t;
    if (ok && failedSince !== null) {
      longest = Math.max(longest, now - failedSince);
      failedSince = null;
    }
    if (ok && done && now - t0 >= minWindowMs) break;
    if (now - t0 > 120_000) throw new Error(`${cmd} ${args.join(' ')}: the port did not come back`);
    await new Promise((r) => setTimeout(r, Math.max(0, 10 - (performance.now() - t))));
  }
  const code = await exited;
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`);
  return { gap: longest / 1000, windowMs: performance.now() - t0 };
}

const port = await freePort();
atomic(['install', '--system', '--name', NAME, '--set', `PORT=${port}`, `oci:${fx}/oci:systest`]);
spawnSync('systemctl', ['start', NAME], { stdio: 'inherit' });
const update: number[] = [];
const restart: number[] = [];
try {
  // one untimed round first (i = -1), as in every other section: the first update and restart
  // of a fresh unit pay first-run costs (page cache, systemd's first job for the unit)
  for (let i = -1; i < RUNS; i++) {
    const u = await downtimeDuring(port, BIN, ['containers', 'update', '--set', `RECEIVER=run${i + 1}`, NAME]);
    const r = await downtimeDuring(port, 'systemctl', ['restart', NAME], u.windowMs);
    if (i < 0) continue;
    update.push(u.gap);
    restart.push(r.gap);
  }
} finally {
  spawnSync(BIN, ['uninstall', NAME], { env, stdio: 'ignore' });
}
process.stdout.write(`@@DOWNTIME ${JSON.stringify({ update, restart })}\n`);
