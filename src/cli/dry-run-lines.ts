/** The human form of an install/update/rollback `--dry-run` report (app/containers/dry-run.ts; docs/dry-run.md). */
import type { DryRunReport } from '../app/containers/dry-run.js';
import { describeValueSource } from '../deploy/value-origins.js';
import { convertSize } from '../util/format.js';

const hexOf = (d: string): string => d.replace(/^sha256:/, '');
const show = (v: string | null): string => (v === null ? '(unset)' : v.includes('\n') ? `(${v.split('\n').filter(Boolean).length} lines)` : JSON.stringify(v));
const shortDigest = (d: string): string => `sha256:${hexOf(d).slice(0, 12)}`;
const bytes = (n: number): string => `${n} bytes${n >= 1000 ? ` (${convertSize(n)})` : ''}`;

export function dryRunLines(r: DryRunReport): string[] {
  const out: string[] = [`Dry run: ${r.summary}; nothing was changed.`];
  out.push(...r.notes);
  if (r.action === 'none') return out;
  if (r.files === null) out.push(`Files: ${r.filesNote ?? 'not rendered'}`);
  else {
    const changed = r.files.filter((f) => f.diff);
    if (changed.length === 0) out.push('Files: no change to the unit, config.json or tmpfiles.d file');
    for (const f of changed) out.push(...f.diff.replace(/\n$/, '').split('\n'));
  }
  if (r.values !== null) {
    const note = r.valuesNote ? ` (${r.valuesNote})` : '';
    out.push(r.values.length ? `Value changes${note}:` : `Value changes: none${note}`);
    for (const v of r.values) out.push(`  ${v.key}: ${show(v.old)} -> ${show(v.new)}${v.source ? ` (${describeValueSource(v.source)})` : ''}`);
  }
  if (r.options.length) {
    out.push('Option record changes:');
    for (const o of r.options) out.push(`  ${o.key}: ${show(o.old)} -> ${show(o.new)} (${o.source})`);
  }
  if (r.healthCheck) out.push(`Health check: ${r.healthCheck.old} -> ${r.healthCheck.new}`);
  if (r.operation !== 'rollback') {
    if (r.layers.length === 0) out.push('Layers: none needed (the rootfs is not checked out from the store)');
    else {
      const present = r.layers.filter((l) => l.present).length;
      out.push(`Layers: ${r.layers.length} (${present} present in the store, ${r.layers.length - present} to download)`);
      for (const l of r.layers) out.push(`  ${shortDigest(l.digest)}  ${l.size === null ? 'size unknown' : bytes(l.size)}  ${l.present ? 'present' : 'to download'}`);
    }
    if (r.download.layers === 0) out.push('Disk space: nothing to download; the checkout hard-links the files of the store (only the rendered files and the directories are new)');
    else {
      out.push(
        `Disk space: ${r.download.bytes === null ? 'an unknown number of bytes' : bytes(r.download.bytes)} to download (compressed, ${r.download.layers} layer${r.download.layers === 1 ? '' : 's'}); the unpacked size is not known from a manifest (it is measured when the layers are imported)`,
      );
    }
  }
  return out;
}
