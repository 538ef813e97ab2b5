/**
 * The readiness check of a deployment (docs/image-format.md, "healthCheck"): where it comes from
 * (`--health-check` flag > `/exports/manifest.json` `healthCheck` > the image config's Docker
 * `Healthcheck`), rendered with the deployment's values, and kept in the slot as
 * `CK/NAME.N/health-check.json` so a rollback checks the deployment it returns to with that
 * deployment's own check.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { substitute } from '../render/python-template.js';
import { writeStaged } from './slot-files.js';
import { AtomicError } from '../util/errors.js';

/** notify: the service says READY=1 over sd_notify (the unit is Type=notify; runc proxies the socket into the container). */
export type HealthType = 'http' | 'tcp' | 'exec' | 'notify' | 'none';

export interface HealthSpec {
  source: 'flag' | 'manifest' | 'image';
  type: HealthType;
  /** http: the URL to GET (healthy on 2xx/3xx). */
  url?: string;
  /** tcp: HOST:PORT (or PORT on 127.0.0.1). */
  address?: string;
  /** exec: argv run inside the container with `<runtime> exec NAME`. */
  command?: string[];
  /** Seconds one probe may take. */
  timeout: number;
  /** Seconds between probes until one passes. */
  interval: number;
}

export const HEALTH_FILE = 'health-check.json';
const DEFAULT_TIMEOUT = 2;
const DEFAULT_INTERVAL = 1;

/**
 * `--health-check SPEC`: `none`, `http://HOST:PORT/PATH` (or https), `tcp:HOST:PORT` (or `tcp:PORT`),
 * `exec:COMMAND` (run with /bin/sh -c inside the container), `notify` (sd_notify READY=1 from the service).
 */
export function parseHealthFlag(spec: string): HealthSpec {
  const base = { source: 'flag' as const, timeout: DEFAULT_TIMEOUT, interval: DEFAULT_INTERVAL };
  if (spec === 'none') return { ...base, type: 'none' };
  if (spec === 'notify') return { ...base, type: 'notify' };
  if (/^https?:\/\//.test(spec)) {
    try {
      new URL(spec);
    } catch {
      throw badFlag(spec);
    }
    return { ...base, type: 'http', url: spec };
  }
  if (spec.startsWith('tcp:') && /^(?:(?:\[[^\]]+\]|[^:]+):)?\d{1,5}$/.test(spec.slice(4))) return { ...base, type: 'tcp', address: spec.slice(4) };
  if (spec.startsWith('exec:') && spec.length > 5) return { ...base, type: 'exec', command: ['/bin/sh', '-c', spec.slice(5)] };
  throw badFlag(spec);
}

function badFlag(spec: string): AtomicError {
  return new AtomicError('USAGE', `Invalid --health-check '${spec}'`, {
    suggestions: ['Use none, notify, http://127.0.0.1:PORT/PATH, tcp:HOST:PORT or exec:COMMAND.'],
  });
}

interface ManifestHealth {
  type: HealthType;
  url?: string;
  address?: string | number;
  command?: string | string[];
  timeout?: number;
  interval?: number;
}

/** manifest.json `healthCheck` (already schema-validated), its strings rendered with `values`. */
export function manifestHealth(raw: unknown, values: Record<string, string>, file: string): HealthSpec | null {
  if (raw === undefined || raw === null || typeof raw !== 'object') return null;
  const h = raw as ManifestHealth;
  const r = (s: string): string => substitute(s, values, `${file} healthCheck`);
  const spec: HealthSpec = { source: 'manifest', type: h.type, timeout: h.timeout ?? DEFAULT_TIMEOUT, interval: h.interval ?? DEFAULT_INTERVAL };
  if (h.type === 'http' && h.url !== undefined) spec.url = r(h.url);
  if (h.type === 'tcp' && h.address !== undefined) spec.address = r(String(h.address));
  if (h.type === 'exec' && h.command !== undefined) spec.command = typeof h.command === 'string' ? ['/bin/sh', '-c', r(h.command)] : h.command.map(r);
  return spec;
}

/** The image config's Docker `Healthcheck` ({Test, Interval, Timeout} in ns) as an exec check. */
export function dockerHealth(cfg: Record<string, unknown> | null | undefined): HealthSpec | null {
  const hc = (cfg?.Healthcheck ?? cfg?.HealthCheck) as { Test?: unknown; Timeout?: number; Interval?: number } | undefined;
  if (!hc || !Array.isArray(hc.Test) || hc.Test.length === 0 || !hc.Test.every((t) => typeof t === 'string')) return null;
  const test = hc.Test as string[];
  const timeout = typeof hc.Timeout === 'number' && hc.Timeout > 0 ? Math.min(hc.Timeout / 1e9, 30) : 5;
  const interval = typeof hc.Interval === 'number' && hc.Interval > 0 ? Math.min(hc.Interval / 1e9, DEFAULT_INTERVAL) : DEFAULT_INTERVAL;
  const base = { source: 'image' as const, timeout, interval };
  if (test[0] === 'NONE') return { ...base, type: 'none' };
  if (test[0] === 'CMD' && test.length > 1) return { ...base, type: 'exec', command: test.slice(1) };
  if (test[0] === 'CMD-SHELL' && test.length > 1) return { ...base, type: 'exec', command: ['/bin/sh', '-c', test.slice(1).join(' ')] };
  return null;
}

/** 127.0.0.0/8, ::1 (also as an IPv4-mapped address) or localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || /^(0:){7}1$|^0*:0*:0*:0*:0*:0*:0*:0*1$/.test(h)) return true;
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return v4 !== null && v4[1] === '127' && v4.slice(2).every((o) => Number(o) <= 255);
}

/** The host an http/tcp check connects to ('' for a tcp PORT alone, which is 127.0.0.1). */
export function probeHost(spec: HealthSpec): string | null {
  if (spec.type === 'http') {
    try {
      return new URL(spec.url ?? '').hostname;
    } catch {
      return null;
    }
  }
  if (spec.type === 'tcp') {
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(spec.address ?? '');
    if (m) return m[1] ?? m[2] ?? '';
    return /^\d+$/.test(spec.address ?? '') ? '' : null;
  }
  return '';
}

/**
 * An image's check (manifest.json healthCheck, rendered) runs from the host: it may only connect to
 * the host's loopback, so an image cannot make atomic probe (and report on) another machine of the
 * site's network. The admin's --health-check may name any host. exec checks run inside the
 * container (runc exec) and are always allowed.
 */
export function checkImageProbeTarget(spec: HealthSpec, image: string): void {
  if (spec.source === 'flag' || (spec.type !== 'http' && spec.type !== 'tcp')) return;
  const host = probeHost(spec);
  if (host === '' || (host !== null && isLoopbackHost(host))) return;
  const target = spec.type === 'http' ? spec.url : spec.address;
  throw new AtomicError('UNSAFE_INPUT', `the healthCheck of ${image} (${spec.source === 'manifest' ? '/exports/manifest.json' : 'image config'}) would connect to ${JSON.stringify(target)}, which is not this host's loopback; an image's readiness check may only probe 127.0.0.1, ::1 or localhost`, {
    suggestions: [`Fix the image's healthCheck, or give the check yourself: --health-check ${spec.type === 'http' ? 'http://HOST:PORT/PATH' : 'tcp:HOST:PORT'} (or --health-check none).`],
    ref: image,
  });
}

/** First of flag, manifest, image; null when nobody defines a check (the gate then watches the unit only). */
export function chooseHealth(flag: HealthSpec | null | undefined, manifest: HealthSpec | null, image: HealthSpec | null): HealthSpec | null {
  return flag ?? manifest ?? image ?? null;
}

/** The health spec of a slot being staged (deploy/slot-files.ts writeStaged: made durable with the whole slot). */
export function stageHealthSpec(stageDir: string, spec: HealthSpec | null): void {
  if (spec !== null) writeStaged(path.join(stageDir, HEALTH_FILE), JSON.stringify(spec, null, 4) + '\n');
}

export function readHealthSpec(slotDir: string): HealthSpec | null {
  try {
    const s = JSON.parse(fs.readFileSync(path.join(slotDir, HEALTH_FILE), 'utf8')) as HealthSpec;
    return s && typeof s.type === 'string' ? s : null;
  } catch {
    return null;
  }
}

export function describeHealth(s: HealthSpec | null): string {
  if (!s || s.type === 'none') return 'unit stays active';
  if (s.type === 'notify') return `unit becomes active when the service sends READY=1 (sd_notify) and stays active (from ${s.source === 'flag' ? '--health-check' : 'manifest.json healthCheck'})`;
  const what = s.type === 'http' ? `GET ${s.url}` : s.type === 'tcp' ? `TCP ${s.address}` : `exec ${(s.command ?? []).join(' ')}`;
  return `unit stays active and ${what} passes (from ${s.source === 'flag' ? '--health-check' : s.source === 'manifest' ? 'manifest.json healthCheck' : 'image Healthcheck'})`;
}
