/** Human and JSON descriptions of an image's trust record (`atomic images info`). */
import type { TrustRecord } from './stored.js';

export function describeSigners(record: TrustRecord | null): { lines: string[]; json: unknown } {
  if (!record) return { lines: [], json: null };
  const d = record.decision;
  if (!d) return { lines: ['none checked (pulled with --insecure-policy)'], json: { checked: false, gpg: record.gpg.length, sigstore: record.sigstore.length } };
  const lines = d.verified.map((v) => (v.kind === 'gpg' ? `GPG key ${v.key} (${v.keySource}), identity ${v.identity}, digest ${v.digest}` : `sigstore key ${v.key}, identity ${v.identity}, digest ${v.digest}`));
  if (lines.length === 0) lines.push(d.acceptedAnything ? `none verified: accepted without a signature check (insecureAcceptAnything in ${d.policyFile})` : 'none verified');
  return { lines, json: { checked: true, policy: d.policyFile, scope: d.scope, requirements: d.requirements, verified: d.verified } };
}
