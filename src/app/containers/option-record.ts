/**
 * Option records seen from the use cases (docs/options.md): the record a container has (deployed
 * and pending), and the checks a record must pass before anything is written (schema, Interlinked
 * containers that exist and do not form a cycle, calendar expressions systemd accepts).
 *
 * `readOptionRecord(ctx, name)` is the small read-only entry point for other commands
 * (`containers inspect`, `containers list`).
 */
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { AppContext } from '../context.js';
import { containerPaths, currentSlot } from '../../deploy/layout.js';
import { isValidContainerName } from '../../deploy/container-name.js';
import { readHostConf, readSlotOptions, hostConfPath } from '../../deploy/option-record.js';
import { validateOptionRecord, interlinked, linkPriority, sameRecord, type OptionRecord, type LinkedUnit } from '../../render/options.js';
import { AtomicError } from '../../util/errors.js';
import { atomicEnv } from '../../util/env.js';

export interface OptionRecordView {
  /** The record of the live deployment ({} when it has none). */
  deployed: OptionRecord;
  /** The host file's record, or null when there is no /etc/containers/atomic/NAME.conf. */
  hostFile: OptionRecord | null;
  /** Path of the host file (whether or not it exists). */
  hostFilePath: string;
  /** The host file differs from the deployment: the next update applies it. */
  pending: boolean;
  /** TCPPort/UDPPort as numbers (recorded only). */
  tcpPorts: number[];
  udpPorts: number[];
}

/**
 * The option record of container NAME, or null when NAME is not installed. A host file that does
 * not validate is reported as an error (AtomicError USAGE naming file, key and value).
 */
export function readOptionRecord(ctx: AppContext, name: string): OptionRecordView | null {
  const cp = containerPaths(ctx.paths, name);
  const cur = currentSlot(cp);
  if (cur === null) return null;
  const deployed = readSlotOptions(cp.slotDir(cur))?.record ?? {};
  const hostFile = readHostConf(ctx.paths, name);
  const ports = (v: string | undefined) => (v ? v.split(',').map(Number) : []);
  return {
    deployed,
    hostFile,
    hostFilePath: hostConfPath(ctx.paths, name),
    pending: hostFile !== null && !sameRecord(hostFile, deployed),
    tcpPorts: ports(deployed.TCPPort),
    udpPorts: ports(deployed.UDPPort),
  };
}

/** The record an update of NAME deploys: the host file when there is one, else the live deployment's. */
export function effectiveRecord(ctx: AppContext, name: string): OptionRecord {
  const host = readHostConf(ctx.paths, name);
  if (host !== null) return host;
  const cp = containerPaths(ctx.paths, name);
  const cur = currentSlot(cp);
  return cur === null ? {} : (readSlotOptions(cp.slotDir(cur))?.record ?? {});
}

function installedContainers(ctx: AppContext): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(ctx.paths.checkoutRoot);
  } catch {
    return [];
  }
  return names.filter((n) => {
    if (!isValidContainerName(n)) return false;
    try {
      return fs.lstatSync(`${ctx.paths.checkoutRoot}/${n}`).isSymbolicLink() && currentSlot(containerPaths(ctx.paths, n)) !== null;
    } catch {
      return false;
    }
  });
}

function otherRecord(ctx: AppContext, name: string): OptionRecord {
  try {
    return effectiveRecord(ctx, name);
  } catch {
    const cp = containerPaths(ctx.paths, name);
    const cur = currentSlot(cp);
    return cur === null ? {} : (readSlotOptions(cp.slotDir(cur))?.record ?? {});
  }
}

/** A calendar expression systemd accepts (systemd-analyze calendar), checked before anything is written. */
function checkCalendar(key: string, value: string, source: string): void {
  const r = spawnSync(atomicEnv('ATOMIC_SYSTEMD_ANALYZE') ?? 'systemd-analyze', ['calendar', value], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.error) return; // no systemd-analyze here: systemd itself reports it when the timer loads
  if (r.status !== 0) {
    throw new AtomicError(
      'USAGE',
      `${source}: invalid value ${JSON.stringify(value)} for ${key}: expected a systemd calendar expression (systemd.time(7)); systemd-analyze says: ${(r.stderr || '').trim()}`,
      {
        suggestions: [`Set ${key} to a calendar expression such as "Mon..Fri 08:00" or "*-*-* 20:00" (check it with: systemd-analyze calendar "EXPR").`],
        ref: key,
      },
    );
  }
}

/**
 * Everything a record of NAME must satisfy before it is deployed. Returns its Interlinked
 * containers with their priorities. `source` names the record's origin in messages.
 */
export function checkOptionRecord(ctx: AppContext, name: string, record: OptionRecord, source: string): LinkedUnit[] {
  validateOptionRecord(record, source);
  if (record.network === 'bridge' && ctx.paths.userMode) {
    throw new AtomicError(
      'NOT_SUPPORTED',
      `${source}: network=bridge needs root (the CNI plugins create a bridge, iptables rules and a network namespace); a user container cannot use it`,
      { suggestions: ['Use network=host or network=none for a --user container.'], ref: 'network' },
    );
  }
  for (const k of ['StartAt', 'StopAt'] as const) if (record[k] !== undefined) checkCalendar(k, record[k], source);
  const links = interlinked(record);
  if (links.length === 0) return [];
  const installed = new Set(installedContainers(ctx));
  const out: LinkedUnit[] = [];
  for (const l of links) {
    if (l === name)
      throw new AtomicError('USAGE', `${source}: Interlinked=${record.Interlinked}: ${name} cannot be interlinked with itself`, {
        suggestions: [`Remove ${name} from Interlinked.`],
        ref: 'Interlinked',
      });
    if (!installed.has(l)) {
      throw new AtomicError('USAGE', `${source}: Interlinked=${record.Interlinked}: no system container named '${l}' is installed`, {
        suggestions: [`Install ${l} first (atomic install --system --name ${l} IMAGE), or remove it from Interlinked. Installed: ${[...installed].sort().join(', ') || 'none'}.`],
        ref: 'Interlinked',
      });
    }
    out.push({ name: l, priority: linkPriority(otherRecord(ctx, l)) });
  }
  // a cycle through the other containers' records (with NAME's new one) would deadlock systemd's start jobs
  const edges = (n: string): string[] => (n === name ? links : interlinked(otherRecord(ctx, n)).filter((x) => installed.has(x) || x === name));
  const cycle = findCycle(name, edges);
  if (cycle) {
    throw new AtomicError('USAGE', `${source}: Interlinked=${record.Interlinked} makes a cycle: ${cycle.join(' -> ')}`, {
      suggestions: ['Containers cannot need each other in a circle: remove one of the links (atomic containers config NAME --unset Interlinked).'],
      ref: 'Interlinked',
    });
  }
  return out;
}

function findCycle(start: string, edges: (n: string) => string[]): string[] | null {
  const stack: string[] = [];
  const done = new Set<string>();
  const visit = (n: string): string[] | null => {
    const i = stack.indexOf(n);
    if (i >= 0) return [...stack.slice(i), n];
    if (done.has(n)) return null;
    stack.push(n);
    for (const m of edges(n)) {
      const c = visit(m);
      if (c) return c;
    }
    stack.pop();
    done.add(n);
    return null;
  };
  return visit(start);
}
