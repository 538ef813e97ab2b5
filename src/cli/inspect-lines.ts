/** The human form of `containers inspect NAME` / `atomic info NAME` (app/containers/inspect.ts; the JSON form is the result itself, docs/inspect.md). */
import type { InspectDeployment, InspectResult } from '../app/containers/inspect.js';
import type { HealthSpec } from '../deploy/health-spec.js';
import { describeValueSource } from '../deploy/value-origins.js';

function describeCheck(h: HealthSpec | null): string {
  if (!h || h.type === 'none') return 'none (the unit must stay active)';
  if (h.type === 'notify') return `sd_notify READY=1 (Type=notify unit; from ${h.source === 'flag' ? '--health-check' : 'manifest.json healthCheck'})`;
  const what = h.type === 'http' ? `GET ${h.url}` : h.type === 'tcp' ? `TCP ${h.address}` : `exec ${(h.command ?? []).join(' ')}`;
  return `${what} (from ${h.source === 'flag' ? '--health-check' : h.source === 'manifest' ? 'manifest.json healthCheck' : 'image Healthcheck'})`;
}

/** The human form. */
export function inspectLines(r: InspectResult): string[] {
  const out: string[] = [];
  const dep = (label: string, d: InspectDeployment): void => {
    out.push(`${label}:`);
    out.push(`  Path:          ${d.path}`);
    out.push(`  Image:         ${d.image}`);
    out.push(`  Image ID:      ${d.imageId}`);
    out.push(`  Created:       ${d.created}`);
    out.push(`  Runtime:       ${d.runtime}`);
    if (d.remoteRootfs) out.push(`  Remote rootfs: ${d.remoteRootfs}`);
    out.push(`  Health check:  ${describeCheck(d.healthCheck)}`);
  };
  out.push(`Name:            ${r.name}`);
  dep('Current deployment', r.current);
  if (r.rollback) dep('Rollback deployment', r.rollback);
  else out.push('Rollback deployment: none');
  if (r.unit) {
    out.push(`Unit:            ${r.unit.name} (${r.unit.activeState}, ${r.unit.enabled})`);
    out.push(`  File:          ${r.unit.path}${r.unit.present ? (r.unit.editedByHand ? " (edited by hand: differs from the deployment's copy)" : '') : ' (missing)'}`);
  } else out.push('Unit:            none (noContainerService)');
  if (r.tmpfiles) out.push(`Tmpfiles:        ${r.tmpfiles.path}${r.tmpfiles.present ? (r.tmpfiles.editedByHand ? ' (edited by hand)' : '') : ' (missing)'}`);
  out.push('Values:');
  const w = Math.max(0, ...r.values.filter((v) => !v.value.includes('\n')).map((v) => v.name.length));
  for (const v of r.values) {
    const shown = v.value.includes('\n') ? `${v.value.split('\n').filter(Boolean).length} lines` : v.value;
    out.push(`  ${v.name.padEnd(w)}  ${shown.length > 100 ? `${shown.slice(0, 97)}...` : shown}  [${describeValueSource(v.source)}]`);
  }
  out.push(
    `Auto-update:     ${r.autoUpdate ? `${r.autoUpdate.policy} (from ${r.autoUpdate.source === 'flag' ? '--auto-update' : 'the image label io.containers.autoupdate'})` : 'none'}`,
  );
  if (r.quarantined.length) {
    out.push('Quarantined images:');
    for (const q of r.quarantined) out.push(`  ${q.image} (${q.digest.slice(0, 12)}) since ${q.time}: ${q.reason}`);
  }
  if (r.options) {
    out.push('Options:');
    const rec = r.options.deployed;
    const w2 = Math.max(0, ...Object.keys(rec).map((k) => k.length));
    for (const k of Object.keys(rec).sort()) out.push(`  ${k.padEnd(w2)}  ${rec[k]}`);
    if (Object.keys(rec).length) out.push(`  Drop-in:       ${r.options.dropIn}`);
    if (r.options.hostFile !== null)
      out.push(`  Host file:     ${r.options.hostFilePath}${r.options.pending ? ' (differs from the deployment: the next containers update applies it)' : ''}`);
  }
  if (r.lastUpdate)
    out.push(`Last ${r.lastUpdate.op}: ${r.lastUpdate.result} at ${r.lastUpdate.time} (${r.lastUpdate.image})${r.lastUpdate.reason ? `: ${r.lastUpdate.reason}` : ''}`);
  return out;
}
