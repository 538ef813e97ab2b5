/**
 * Per-container option records (SME Server's design, docs/options.md): the keys, their validation
 * (schemas/options.schema.json, compiled at build time by scripts/gen-validators.mjs), and the
 * pure rendering of a record onto a deployment: a post-template config.json step, the unit drop-in
 * NAME.service.d/50-atomic-options.conf, the StartAt/StopAt timer units and tmpfiles lines. The
 * image's own templates are never changed. The only I/O is reading the schema file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { AtomicError } from '../util/errors.js';
import { validatorForFiles, type SchemaSet } from './schema-validators.js';

/** A record: SME key → value, every value a string (as SME's database stores it). */
export type OptionRecord = Record<string, string>;

/** SME keys this tool cannot map onto a system container, and why. */
export const UNMAPPABLE_KEYS: Record<string, string> = {
  SubDomain: "it configures a web virtual host of SME Server's httpd, which a system container host does not have",
  WebAlias: "it configures a web alias of SME Server's httpd, which a system container host does not have",
};

const here = path.dirname(fileURLToPath(import.meta.url));

export function optionsSchemaPath(): string {
  let d = here;
  for (;;) {
    if (fs.existsSync(path.join(d, 'package.json'))) return path.join(d, 'schemas', 'options.schema.json');
    const up = path.dirname(d);
    if (up === d) throw new AtomicError('INTERNAL', `Cannot find the package root (package.json) above ${here}`);
    d = up;
  }
}

let schemaCache: Record<string, unknown> | undefined;
function optionsSchema(): Record<string, unknown> {
  if (!schemaCache) schemaCache = JSON.parse(fs.readFileSync(optionsSchemaPath(), 'utf8')) as Record<string, unknown>;
  return schemaCache;
}

/** schemas/options.schema.json as a schema set (compiled at build time, scripts/gen-validators.mjs). */
export function optionsSchemaSet(): SchemaSet {
  return { key: 'options', draft: '07', options: { allErrors: true, strict: false }, schemas: [optionsSchema()], files: [optionsSchemaPath()] };
}

let validator: ValidateFunction | undefined;
function optionsValidator(): ValidateFunction {
  if (!validator) validator = validatorForFiles('options', [optionsSchemaPath()], optionsSchemaSet) as ValidateFunction;
  return validator;
}

function properties(): Record<string, { description?: string }> {
  return (optionsSchema().properties ?? {}) as Record<string, { description?: string }>;
}

/** The valid keys, in the schema's order. */
export function optionKeys(): string[] {
  return Object.keys(properties());
}

/** The accepted form of KEY's value, for messages. */
export function acceptedForm(key: string): string {
  return properties()[key]?.description ?? 'a valid value';
}

function invalid(message: string, suggestion: string, ref?: string): AtomicError {
  return new AtomicError('USAGE', message, { suggestions: [suggestion], ref });
}

/**
 * The canonical spelling of KEY (keys are matched case-insensitively, as an admin may write
 * `maxmemory`); unknown and unmappable keys are refused naming the valid keys.
 */
export function canonicalKey(key: string, where = ''): string {
  const keys = optionKeys();
  const exact = keys.find((k) => k === key) ?? keys.find((k) => k.toLowerCase() === key.toLowerCase());
  if (exact) return exact;
  const unmappable = Object.keys(UNMAPPABLE_KEYS).find((k) => k.toLowerCase() === key.toLowerCase());
  if (unmappable) {
    throw invalid(
      `${where}The option ${unmappable} cannot be used here: ${UNMAPPABLE_KEYS[unmappable]}`,
      `Remove ${unmappable}; configure it in your reverse proxy instead. Valid keys: ${keys.join(', ')}.`,
      unmappable,
    );
  }
  throw invalid(`${where}Unknown option key '${key}'. Valid keys: ${keys.join(', ')}`, "Use one of the keys listed (SME Server's names; see docs/options.md).", key);
}

/** Parse `KEY=VALUE` words (from the command line) into canonical keys; the last one of a key wins. */
export function parseOptionAssignments(words: string[], where = ''): OptionRecord {
  const out: OptionRecord = {};
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw invalid(`${where}Invalid option '${w}': expected KEY=VALUE`, 'Write each option as KEY=VALUE, e.g. MaxMemory=512.', w);
    out[canonicalKey(w.slice(0, eq), where)] = w.slice(eq + 1);
  }
  return out;
}

function portList(v: string): number[] {
  return v.split(',').map(Number);
}

/**
 * Validate RECORD (canonical keys): the JSON schema, then what a schema cannot say (port ranges,
 * keys that only make sense together). Throws a USAGE error naming key, value and accepted form.
 * `source` names where the record came from (a file, the command line) in messages.
 */
export function validateOptionRecord(record: OptionRecord, source = 'the option record'): void {
  for (const k of Object.keys(record)) canonicalKey(k, `${source}: `);
  const validate = optionsValidator();
  if (!validate(record)) {
    const e = (validate.errors ?? [])[0] as ErrorObject;
    const key = e.instancePath.replace(/^\//, '').replace(/~1/g, '/').replace(/~0/g, '~');
    if (!key) {
      const extra = (e.params as { additionalProperty?: string }).additionalProperty;
      throw invalid(`${source}: unknown option key '${extra ?? '?'}'. Valid keys: ${optionKeys().join(', ')}`, 'Use one of the keys listed.', extra);
    }
    throw valueError(key, String(record[key]), source);
  }
  for (const k of ['TCPPort', 'UDPPort'] as const) {
    if (record[k] !== undefined && portList(record[k]).some((p) => p < 1 || p > 65535)) throw valueError(k, record[k], source);
  }
  if (record.PortMappingPorts !== undefined) {
    for (const m of record.PortMappingPorts.split(',')) {
      const [h, c] = m
        .replace(/\/(tcp|udp)$/, '')
        .split(':')
        .map(Number);
      if (h < 1 || h > 65535 || c < 1 || c > 65535) throw valueError('PortMappingPorts', record.PortMappingPorts, source);
    }
  }
  for (const b of mountPaths(record.MountPath)) {
    for (const [p, side] of [
      [b.source, 'host path'],
      [b.destination, 'container path'],
    ] as const) {
      if (!cleanAbsolute(p)) {
        throw invalid(
          `${source}: MountPath=${record.MountPath}: the ${side} ${JSON.stringify(p)} is not a clean absolute path (no '.', '..' or empty components)`,
          `Write the path as it is meant, e.g. ${path.posix.normalize(p).replace(/\/$/, '') || '/'}.`,
          'MountPath',
        );
      }
    }
    if (b.destination === '/')
      throw invalid(
        `${source}: MountPath=${record.MountPath}: a bind mount cannot replace the container's root /`,
        'Mount the host path on a directory of the container, e.g. /srv:/srv.',
        'MountPath',
      );
  }
  if (record.DataMountPath !== undefined && (!cleanAbsolute(record.DataMountPath) || record.DataMountPath === '/')) {
    throw invalid(
      `${source}: DataMountPath=${record.DataMountPath} is not a clean absolute directory of the container (no '.', '..' or empty components, not /)`,
      'Set DataMountPath to the directory that holds the data, e.g. /var/lib/mysql.',
      'DataMountPath',
    );
  }
  if (record.DataMount === 'host' && record.DataMountPath === undefined) {
    throw invalid(
      `${source}: DataMount=host needs DataMountPath (the directory inside the container that holds the data)`,
      'Set DataMountPath too, e.g. DataMountPath=/var/lib/mysql.',
      'DataMountPath',
    );
  }
  if (record.PortMappingPorts !== undefined && record.network !== 'bridge') {
    throw invalid(
      `${source}: PortMappingPorts=${record.PortMappingPorts} needs network=bridge (with network ${record.network ?? 'as the image sets it'} there is nothing to map)`,
      'Set network=bridge too, or unset PortMappingPorts.',
      'PortMappingPorts',
    );
  }
  if (record.network === 'bridge' && record.PortMapping === 'native' && record.PortMappingPorts !== undefined) {
    throw invalid(
      `${source}: PortMapping=native publishes the container's ports as they are; PortMappingPorts is only used with PortMapping=custom`,
      'Set PortMapping=custom, or unset PortMappingPorts.',
      'PortMapping',
    );
  }
}

/** An absolute path without '.', '..' or empty components (or a trailing '/'): what it says is where it goes. */
function cleanAbsolute(p: string): boolean {
  return (
    p === '/' ||
    (p.startsWith('/') &&
      p
        .slice(1)
        .split('/')
        .every((c) => c !== '' && c !== '.' && c !== '..'))
  );
}

function valueError(key: string, value: string, source: string): AtomicError {
  return invalid(`${source}: invalid value ${JSON.stringify(value)} for ${key}: expected ${acceptedForm(key)}`, `Set ${key} to ${acceptedForm(key)}.`, key);
}

/** MaxMemory in bytes: a plain number is MiB (as an SME admin writes it); K/M/G suffixes. */
export function memoryBytes(v: string): number {
  const m = /^([0-9]+)([KMGkmg]?)$/.exec(v);
  if (!m) throw valueError('MaxMemory', v, 'MaxMemory');
  const n = Number(m[1]);
  const unit = (m[2] || 'M').toUpperCase();
  return n * (unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : 1024 ** 3);
}

/** cpu as a percentage of one CPU. */
export function cpuPercent(v: string): number {
  return Number(v.replace(/%$/, ''));
}

export interface BindSpec {
  source: string;
  destination: string;
  readonly: boolean;
}

/** MountPath entries: HOST[:CONTAINER][:ro|:rw]. */
export function mountPaths(v: string | undefined): BindSpec[] {
  if (!v) return [];
  return v.split(',').map((e) => {
    const parts = e.split(':');
    let mode = 'rw';
    if (parts.length > 1 && (parts[parts.length - 1] === 'ro' || parts[parts.length - 1] === 'rw')) mode = parts.pop() as string;
    return { source: parts[0], destination: parts[1] ?? parts[0], readonly: mode === 'ro' };
  });
}

export interface PortMap {
  host: number;
  container: number;
  protocol: 'tcp' | 'udp';
}

export function portMappings(v: string | undefined): PortMap[] {
  if (!v) return [];
  return v.split(',').map((e) => {
    const proto = /\/(tcp|udp)$/.exec(e)?.[1] as 'tcp' | 'udp' | undefined;
    const [h, c] = e
      .replace(/\/(tcp|udp)$/, '')
      .split(':')
      .map(Number);
    return { host: h, container: c, protocol: proto ?? 'tcp' };
  });
}

export function interlinked(r: OptionRecord): string[] {
  return r.Interlinked ? r.Interlinked.split(',') : [];
}

export function linkPriority(r: OptionRecord | null | undefined): number {
  return r?.InterLinkPriority !== undefined ? Number(r.InterLinkPriority) : 50;
}

/** Where a container's data lives on the host with DataMount=host (the target system's view). */
export function hostDataDir(name: string): string {
  return `/var/lib/atomic-data/${name}`;
}

/** The network namespace (ip netns name) of a container with network=bridge. */
export function netnsName(name: string): string {
  return `atomic-${name}`;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

export interface ApplyContext {
  name: string;
  /** Controllers the host can enforce (default: both); a limit it cannot enforce is left out of config.json. */
  enforce?: { memory: boolean; cpu: boolean };
}

/**
 * The post-template config.json step: RECORD applied onto the rendered CONFIG (a new object;
 * CONFIG is not modified). Only the parts a key maps to change.
 */
export function applyOptionsToConfig(config: Record<string, unknown>, record: OptionRecord, ctx: ApplyContext): Record<string, unknown> {
  const out = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
  const linux = (isObject(out.linux) ? out.linux : (out.linux = {})) as Record<string, unknown>;
  const mem = record.MaxMemory !== undefined && ctx.enforce?.memory !== false;
  const cpu = record.cpu !== undefined && ctx.enforce?.cpu !== false;
  if (mem || cpu) {
    const res = (isObject(linux.resources) ? linux.resources : (linux.resources = {})) as Record<string, unknown>;
    if (mem) res.memory = { ...(isObject(res.memory) ? res.memory : {}), limit: memoryBytes(record.MaxMemory) };
    if (cpu) res.cpu = { ...(isObject(res.cpu) ? res.cpu : {}), quota: cpuPercent(record.cpu) * 1000, period: 100000 };
  }
  if (record.network !== undefined) {
    const ns = (Array.isArray(linux.namespaces) ? linux.namespaces : []).filter((n) => !(isObject(n) && n.type === 'network')) as Record<string, unknown>[];
    if (record.network === 'none') ns.push({ type: 'network' });
    if (record.network === 'bridge') ns.push({ type: 'network', path: `/run/netns/${netnsName(ctx.name)}` });
    linux.namespaces = ns;
  }
  const binds: BindSpec[] = mountPaths(record.MountPath);
  if (record.DataMount === 'host' && record.DataMountPath) {
    binds.push({ source: hostDataDir(ctx.name), destination: record.DataMountPath, readonly: record.DataMountWrite === 'no' });
  }
  if (binds.length > 0) {
    const mounts = (Array.isArray(out.mounts) ? out.mounts : []) as Record<string, unknown>[];
    const dests = new Set(binds.map((b) => b.destination));
    out.mounts = [
      ...mounts.filter((m) => !dests.has(String(m.destination))),
      ...binds.map((b) => ({ destination: b.destination, type: 'bind', source: b.source, options: ['rbind', b.readonly ? 'ro' : 'rw'] })),
    ];
  }
  return out;
}

export interface LinkedUnit {
  name: string;
  priority: number;
}

/**
 * The drop-in NAME.service.d/50-atomic-options.conf, or null when the record needs none.
 * `links` are the Interlinked containers (already checked to exist), `atomicBin` the command
 * the unit runs for network=bridge (attach/release of the CNI network).
 */
export function renderDropIn(name: string, record: OptionRecord, links: LinkedUnit[], atomicBin: string): string | null {
  const unit: string[] = [];
  const service: string[] = [];
  const sorted = [...links].sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
  for (const l of sorted) {
    unit.push(`Requires=${l.name}.service`);
    unit.push(`After=${l.name}.service`);
  }
  if (record.MaxMemory !== undefined) service.push(`MemoryMax=${memoryBytes(record.MaxMemory)}`);
  if (record.cpu !== undefined) service.push(`CPUQuota=${cpuPercent(record.cpu)}%`);
  if (record.network === 'bridge') {
    service.push(`ExecStartPre=${atomicBin} containers network attach ${name}`);
    service.push(`ExecStopPost=${atomicBin} containers network release ${name}`);
  }
  if (unit.length === 0 && service.length === 0) return null;
  let text = `# Generated by atomic from the option record of ${name} (atomic containers config ${name}); do not edit.\n`;
  if (unit.length) text += `[Unit]\n${unit.join('\n')}\n`;
  if (service.length) text += `${unit.length ? '\n' : ''}[Service]\n${service.join('\n')}\n`;
  return text;
}

/** Unit files (name → text) for StartAt/StopAt: atomic-start-NAME.timer, atomic-stop-NAME.{timer,service}. */
export function renderTimerUnits(name: string, record: OptionRecord): Record<string, string> {
  const out: Record<string, string> = {};
  const head = `# Generated by atomic from the option record of ${name}; do not edit.\n`;
  if (record.StartAt !== undefined) {
    out[`atomic-start-${name}.timer`] =
      `${head}[Unit]\nDescription=Start ${name} at ${record.StartAt}\n\n[Timer]\nOnCalendar=${record.StartAt}\nUnit=${name}.service\n\n[Install]\nWantedBy=timers.target\n`;
  }
  if (record.StopAt !== undefined) {
    out[`atomic-stop-${name}.service`] = `${head}[Unit]\nDescription=Stop ${name} (StopAt)\n\n[Service]\nType=oneshot\nExecStart=systemctl stop ${name}.service\n`;
    out[`atomic-stop-${name}.timer`] =
      `${head}[Unit]\nDescription=Stop ${name} at ${record.StopAt}\n\n[Timer]\nOnCalendar=${record.StopAt}\nUnit=atomic-stop-${name}.service\n\n[Install]\nWantedBy=timers.target\n`;
  }
  return out;
}

/** tmpfiles.d lines the record needs (the host data directory of DataMount=host). */
export function renderOptionTmpfiles(name: string, record: OptionRecord, uid: number, gid: number): string {
  if (record.DataMount !== 'host' || !record.DataMountPath) return '';
  return `d    ${hostDataDir(name)}   0755 ${uid} ${gid} - -\n`;
}

/** KEY=VALUE lines of a record, in the schema's key order. */
export function recordLines(record: OptionRecord): string[] {
  const keys = optionKeys();
  return Object.keys(record)
    .sort((a, b) => keys.indexOf(a) - keys.indexOf(b))
    .map((k) => `${k}=${record[k]}`);
}

export function sameRecord(a: OptionRecord | null | undefined, b: OptionRecord | null | undefined): boolean {
  const ka = Object.keys(a ?? {}).sort();
  const kb = Object.keys(b ?? {}).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && (a ?? {})[k] === (b ?? {})[k]);
}

/**
 * Parse an INI record file (/etc/containers/atomic/NAME.conf): `KEY=VALUE` lines (spaces around
 * `=` allowed), `#`/`;` comments, blank lines, and optional section headers (`[NAME]`), which
 * are ignored. Keys are checked (unknown → error naming the file and line).
 */
export function parseIniRecord(text: string, file: string): OptionRecord {
  const out: OptionRecord = {};
  const seen: Record<string, number> = {};
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    if (/^\[[^\]]*\]$/.test(line)) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw invalid(`${file}:${i + 1}: expected KEY=VALUE, got ${JSON.stringify(line)}`, `Fix line ${i + 1} of ${file} (KEY=VALUE per line, # for comments).`, file);
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'")))) value = value.slice(1, -1);
    const key = canonicalKey(line.slice(0, eq).trim(), `${file}:${i + 1}: `);
    if (seen[key] !== undefined) {
      // which one wins is a guess an admin should not have to make (INI readers disagree)
      throw invalid(`${file}:${i + 1}: ${key} is set twice (lines ${seen[key]} and ${i + 1})`, `Keep one ${key}= line in ${file}.`, key);
    }
    seen[key] = i + 1;
    out[key] = value;
  });
  return out;
}

/** The INI text `config` writes for RECORD. */
export function formatIniRecord(name: string, record: OptionRecord): string {
  return `# Option record of the system container ${name} (SME Server keys, docs/options.md).\n# Read by atomic install/update; change it with: atomic containers config ${name} KEY=VALUE\n[${name}]\n${recordLines(
    record,
  )
    .map((l) => `${l}\n`)
    .join('')}`;
}
