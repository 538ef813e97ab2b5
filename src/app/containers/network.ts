/**
 * `atomic containers network attach|release NAME`: run by the unit of a container with
 * network=bridge (ExecStartPre= / ExecStopPost= of its option drop-in, docs/options.md). Attach
 * wires the namespace named in its config.json with the CNI plugins and publishes the record's
 * ports (127.0.0.1 only for access=private, the default); release undoes it.
 */
import * as fs from 'node:fs';
import type { AppContext } from '../context.js';
import { containerPaths, currentSlot, containerNotInstalled } from '../../deploy/layout.js';
import { validateContainerName } from '../../deploy/container-name.js';
import { readSlotOptions } from '../../deploy/option-record.js';
import { portMappings, netnsName, type OptionRecord } from '../../render/options.js';
import { cniAttach, cniRelease, cniState, type CniPort } from '../../host/cni.js';
import { AtomicError } from '../../util/errors.js';

/** The ports a record publishes: PortMappingPorts (custom), or TCPPort/UDPPort as they are (native). */
export function publishedPorts(record: OptionRecord): CniPort[] {
  const hostIP = record.access === 'public' ? undefined : '127.0.0.1';
  const ports: CniPort[] = [];
  if (record.PortMapping === 'native') {
    for (const [k, protocol] of [
      ['TCPPort', 'tcp'],
      ['UDPPort', 'udp'],
    ] as const) {
      for (const p of record[k] ? record[k].split(',').map(Number) : []) ports.push({ hostPort: p, containerPort: p, protocol, ...(hostIP ? { hostIP } : {}) });
    }
  } else {
    for (const m of portMappings(record.PortMappingPorts)) ports.push({ hostPort: m.host, containerPort: m.container, protocol: m.protocol, ...(hostIP ? { hostIP } : {}) });
  }
  return ports;
}

export function networkAttach(ctx: AppContext, name: string): void {
  validateContainerName(name);
  const cp = containerPaths(ctx.paths, name);
  const cur = currentSlot(cp);
  if (cur === null) throw containerNotInstalled(name);
  const record = readSlotOptions(cp.slotDir(cur))?.record ?? {};
  if (record.network !== 'bridge') throw new AtomicError('USAGE', `${name} does not use network=bridge (its option record: network=${record.network ?? 'unset'})`);
  const ports = publishedPorts(record);
  const result = cniAttach(name, netnsName(name), ports) as { ips?: { address?: string }[] } | null;
  const ip = result?.ips?.[0]?.address ?? '?';
  ctx.out.line(
    `${name}: attached to the ${'atomic0'} bridge as ${ip}${ports.length ? `; published ${ports.map((p) => `${p.hostIP ?? '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol}`).join(', ')}` : ''}`,
  );
}

export function networkRelease(ctx: AppContext, name: string): void {
  validateContainerName(name);
  const had = cniState(name, netnsName(name)) !== null || fs.existsSync(`/run/netns/${netnsName(name)}`);
  cniRelease(name, netnsName(name));
  if (had) ctx.out.line(`${name}: network released`);
}
