/**
 * A real registry for tests: /work/shared/fixtures/registry.sh (CNCF distribution) on a free
 * loopback port, optionally with htpasswd or token auth and TLS, with the fixture images pushed.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { SHARED, fixtureImages, makeTempDir } from './fixtures.js';

export const REGISTRY_SH = path.join(SHARED, 'fixtures', 'registry.sh');

export interface TestRegistry {
  dir: string;
  port: number;
  tokenPort: number;
  /** `127.0.0.1:PORT` */
  host: string;
  auth: 'none' | 'htpasswd' | 'token';
  tls: boolean;
  user: string;
  pass: string;
  /** The generated CA (REG_TLS=1): `${dir}/certs/ca.crt`, a --cert-dir-style directory. */
  certDir: string;
  stop(): void;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A port P with P and P+1 free on 127.0.0.1. */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20000 + Math.floor(Math.random() * 30000);
    if ((await portFree(p)) && (await portFree(p + 1))) return p;
  }
  throw new Error('no free port pair found');
}

export async function startRegistry(opts: { auth?: 'none' | 'htpasswd' | 'token'; tls?: boolean; push?: boolean } = {}): Promise<TestRegistry> {
  const auth = opts.auth ?? 'none';
  const tls = opts.tls ?? false;
  const dir = makeTempDir('atomic-registry-');
  for (let attempt = 0; ; attempt++) {
    const port = await freePortPair();
    // distribution reads REGISTRY_* variables as configuration overrides (REGISTRY_AUTH_FILE!).
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
    const env = { ...base, REG_DIR: dir, REG_PORT: String(port), TOKEN_PORT: String(port + 1), REG_AUTH: auth, REG_TLS: tls ? '1' : '0', REG_USER: 'tester', REG_PASS: 'secret' };
    try {
      execFileSync('bash', [REGISTRY_SH, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      if (attempt < 3) continue; // lost a port race
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    const reg: TestRegistry = {
      dir,
      port,
      tokenPort: port + 1,
      host: `127.0.0.1:${port}`,
      auth,
      tls,
      user: 'tester',
      pass: 'secret',
      certDir: path.join(dir, 'certs'),
      stop: () => {
        try {
          execFileSync('bash', [REGISTRY_SH, 'stop'], { env, stdio: 'ignore' });
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    };
    if (opts.push !== false) {
      try {
        execFileSync('bash', [REGISTRY_SH, 'push', fixtureImages()], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        reg.stop();
        throw e;
      }
    }
    return reg;
  }
}

/** The registry's storage file of a blob (to alter it in tests). */
export function registryBlobPath(reg: TestRegistry, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return path.join(reg.dir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

/** GET requests for blobs answered by the registry so far (its "response completed" log lines). */
export function blobRequests(reg: TestRegistry): string[] {
  const log = fs.readFileSync(path.join(reg.dir, 'registry.log'), 'utf8');
  return log.split('\n').filter((l) => /http\.request\.method=GET /.test(l) && /http\.request\.uri="?\/v2\/[^ ]*\/blobs\/sha256:/.test(l) && /http\.response\.status=/.test(l));
}


/** Every request the registry answered so far, as `METHOD URI` (its "response completed" log lines). */
export function registryRequests(reg: TestRegistry): string[] {
  const log = fs.readFileSync(path.join(reg.dir, 'registry.log'), 'utf8');
  const out: string[] = [];
  for (const l of log.split('\n')) {
    if (!/http\.response\.status=/.test(l)) continue;
    const m = /http\.request\.method=(\w+)/.exec(l);
    const u = /http\.request\.uri="?([^" ]+)/.exec(l);
    if (m && u) out.push(`${m[1]} ${u[1]}`);
  }
  return out;
}
