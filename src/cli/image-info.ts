/**
 * How `atomic images info IMAGE` and `atomic info IMAGE` show an image (app/images/info.ts):
 * atomic's text (Atomic/info.py) and the `--json` document.
 */
import type { ImageInfo } from '../app/images/info.js';
import type { TrustRecord } from '../image/trust/stored.js';

/** The signature lines of the text form: one per verified signature, or why there is none. */
function signerLines(record: TrustRecord): string[] {
  const d = record.decision;
  if (!d) return ['none checked (pulled with --insecure-policy)'];
  const lines = d.verified.map((v) =>
    v.kind === 'gpg' ? `GPG key ${v.key} (${v.keySource}), identity ${v.identity}, digest ${v.digest}` : `sigstore key ${v.key}, identity ${v.identity}, digest ${v.digest}`,
  );
  if (lines.length === 0) lines.push(d.acceptedAnything ? `none verified: accepted without a signature check (insecureAcceptAnything in ${d.policyFile})` : 'none verified');
  return lines;
}

/** The `signatures` member of the JSON form. */
function signersJson(record: TrustRecord | null): unknown {
  if (!record) return null;
  const d = record.decision;
  if (!d) return { checked: false, gpg: record.gpg.length, sigstore: record.sigstore.length };
  return { checked: true, policy: d.policyFile, scope: d.scope, requirements: d.requirements, verified: d.verified };
}

export function imageInfoLines(info: ImageInfo): string[] {
  const lines = [`Image Name: ${info.name}`];
  for (const k of Object.keys(info.labels).sort()) lines.push(`${k}: ${info.labels[k]}`);
  // atomic (Atomic/info.py): each section only when it has variables; both sorted by name
  const vars = info.templateVariables;
  const withDefault = Object.keys(vars?.withDefault ?? {}).sort();
  const withoutDefault = [...(vars?.withoutDefault ?? [])].sort();
  if (vars && withDefault.length > 0) {
    lines.push('', '', 'Template variables with default value, but overridable with --set:');
    for (const k of withDefault) lines.push(`${k}: ${vars.withDefault[k]}`);
  }
  if (withoutDefault.length > 0) {
    lines.push('', '', 'Template variables that has no default value, and must be set with --set:');
    for (const k of withoutDefault) lines.push(`${k}: {DEF_VALUE}`);
  }
  if (info.trust) lines.push('', '', 'Signatures (verified when pulled):', ...signerLines(info.trust));
  return lines;
}

export function imageInfoJson(info: ImageInfo): Record<string, unknown> {
  return { name: info.name, id: info.id, labels: info.labels, templateVariables: info.templateVariables, signatures: signersJson(info.trust) };
}
