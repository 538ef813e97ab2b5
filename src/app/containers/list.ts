/**
 * `atomic containers list` (§1.11): the system containers as the rows of atomic's JSON
 * (`ContainerRow`), filtered. The command (cli/list-runners.ts) prints them as atomic's table,
 * ids or JSON.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppContext } from '../context.js';
import type { HostPort } from '../../host/host-port.js';
import { containerPaths, liveSlotDir, STATE_DIR } from '../../deploy/layout.js';
import { formatCreated, parseFilters } from '../../util/format.js';
import { unitName, isValidContainerName } from '../../deploy/container-name.js';
import { isAtomicError, isErrno } from '../../util/errors.js';
import { stripTransport } from '../../image/reference.js';

export const CONTAINER_FILTER_KEYS = ['container', 'image', 'command', 'created', 'state', 'runtime', 'backend'];

export interface ContainerRow {
  id: string;
  image_id: string;
  image_name: string;
  name: string;
  command: string;
  created: string;
  state: string;
  backend: string;
  runtime: string;
  vulnerable: boolean;
  running: boolean;
}

export interface ContainerListOptions {
  all?: boolean;
  filters?: string[];
}

/** registry/repo/image:tag or image:tag — a tag is always shown. */
function displayImage(image: string): string {
  const bare = stripTransport(image, { docker: true }).replace(/@sha256:[0-9a-f]+$/, '');
  const slash = bare.lastIndexOf('/');
  const colon = bare.lastIndexOf(':');
  return colon > slash ? bare : `${bare}:latest`;
}

function entries(root: string): string[] {
  try {
    return fs.readdirSync(root).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
}

/** `links`: the checkout root, where a container is the NAME link (NAME.0/NAME.1 directories are slots, but a link named `app.0` is the container app.0); else preinstalled directories. */
function scan(ctx: AppContext, root: string, names: string[], sd: HostPort, links: boolean): ContainerRow[] {
  const rows: ContainerRow[] = [];
  for (const n of names.sort()) {
    if (n.startsWith('.')) continue;
    if (links) {
      // slots are reached through their NAME link; a slot without one is a leftover, not a container
      try {
        if (!fs.lstatSync(path.join(root, n)).isSymbolicLink()) continue;
      } catch {
        continue;
      }
    }
    if (!isValidContainerName(n)) continue;
    // One broken container (a link to a missing or foreign directory, an unreadable or garbage
    // `info`) is reported and skipped; the others are still listed.
    const skip = (why: string, fix = `remove it with: atomic uninstall ${n}`) => ctx.out.warn(`Skipping container ${n}: ${why}; ${fix}`);
    let p: string;
    try {
      p = liveSlotDir(containerPaths(ctx.paths, n)) ?? path.join(root, n);
    } catch (e) {
      skip(e instanceof Error ? e.message : String(e), isAtomicError(e) && e.suggestions.length ? e.suggestions[0] : undefined);
      continue;
    }
    let info: Record<string, unknown>;
    try {
      info = JSON.parse(fs.readFileSync(path.join(p, 'info'), 'utf8')) as Record<string, unknown>;
      if (typeof info !== 'object' || info === null || Array.isArray(info)) throw new Error('not a JSON object');
    } catch (e) {
      const st = fs.lstatSync(path.join(root, n), { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) {
        const target = fs.readlinkSync(path.join(root, n));
        skip(
          fs.existsSync(p)
            ? `its deployment info ${path.join(p, 'info')} is unreadable (${isErrno(e) ? e.code : (e as Error).message.replace(/\s+/g, ' ')})`
            : `its link points at ${target}, which does not exist`,
        );
      }
      continue; // a plain directory without info: not a container (atomic ignored those too)
    }
    let command = '';
    try {
      const cfg = JSON.parse(fs.readFileSync(path.join(p, 'config.json'), 'utf8')) as { process?: { args?: string[] } };
      command = (cfg.process?.args ?? []).join(' ');
    } catch {
      command = '';
    }
    const hasService = info['has-container-service'] !== false;
    let state: string;
    if (!hasService) state = 'no service';
    else {
      const s = sd.state(unitName(n));
      state = s === 'active' ? 'running' : s === 'failed' ? 'failed' : s === 'activating' ? 'activating' : 'inactive';
    }
    rows.push({
      id: n,
      image_id: String(info.revision ?? ''),
      image_name: displayImage(String(info.image ?? '')),
      name: n,
      command,
      created: Number.isFinite(Number(info.created ?? 0)) ? formatCreated(new Date(Number(info.created ?? 0) * 1000)) : '',
      state,
      backend: 'ostree',
      runtime: String(info.runtime ?? ''),
      vulnerable: false,
      running: state === 'running',
    });
  }
  return rows;
}

function filterValue(r: ContainerRow, k: string): string {
  switch (k) {
    case 'container':
      return r.id;
    case 'image':
      return r.image_name;
    default:
      return String((r as unknown as Record<string, unknown>)[k] ?? '');
  }
}

export async function containersList(ctx: AppContext, o: ContainerListOptions): Promise<ContainerRow[]> {
  // The deploy machinery (and all it loads) only when there is something to recover or list:
  // a list on an empty host stays a start-up-time command.
  if (entries(path.join(ctx.paths.checkoutRoot, STATE_DIR, 'journal')).length > 0) await (await import('../../deploy/recovery.js')).recoverInterrupted(ctx);
  const filters = parseFilters(o.filters, CONTAINER_FILTER_KEYS);
  const found = [ctx.paths.checkoutRoot, ctx.paths.preinstalledRoot].map((root) => [root, entries(root)] as const);
  let rows: ContainerRow[] = [];
  if (found.some(([, names]) => names.length > 0)) {
    const sd = (await import('../../deploy/activate-slot.js')).systemdFor(ctx);
    for (const [root, names] of found) rows.push(...scan(ctx, root, names, sd, root === ctx.paths.checkoutRoot));
  }
  if (!o.all) rows = rows.filter((r) => r.state !== 'inactive');
  rows = rows.filter((r) => filters.every(([k, v]) => filterValue(r, k).toLowerCase().includes(v.toLowerCase())));
  return rows;
}
