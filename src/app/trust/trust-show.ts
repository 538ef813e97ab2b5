/** `atomic trust show [--json]`: the policy's scopes with their requirement, keys and signature store. */
import type { AppContext } from '../context.js';
import { loadPolicy, registriesDirFor, type Requirement } from '../../image/trust/policy.js';
import { trustSettings } from '../../image/trust/policy.js';
import { loadRegistriesD, lookasideFor, useSigstoreAttachments } from '../../image/trust/registries-d.js';
import { parseDockerRef } from '../../image/trust/docker-ref.js';

export interface TrustRow {
  transport: string;
  /** "" = the transport default; null = the policy default. */
  scope: string | null;
  /** accept, reject, signed (GPG), sigstoreSigned, or several joined with "+". */
  type: string;
  keys: string[];
  /** Where signatures are read from (docker scopes): a lookaside URL and/or "registry (sigstore attachments)". */
  signatureStore: string[];
  requirements: Requirement[];
}

const TYPE: Record<string, string> = { insecureAcceptAnything: 'accept', reject: 'reject', signedBy: 'signed', sigstoreSigned: 'sigstoreSigned' };

export function trustShow(ctx: AppContext): { policyFile: string; registriesDir: string; rows: TrustRow[] } {
  const settings = trustSettings(ctx);
  const policy = loadPolicy(settings);
  const dir = registriesDirFor(settings);
  const conf = loadRegistriesD(dir);
  const row = (transport: string, scope: string | null, reqs: Requirement[]): TrustRow => {
    const keys = reqs.flatMap((r) => ('keyPath' in r || 'keyPaths' in r || 'keyData' in r ? (r.keyData !== undefined ? ['keyData'] : r.keyPath !== undefined ? [r.keyPath] : r.keyPaths ?? []) : []));
    const store: string[] = [];
    if (transport === 'docker' && scope && !scope.startsWith('*.')) {
      try {
        const ref = parseDockerRef(scope);
        const l = lookasideFor(conf, ref);
        if (l && reqs.some((r) => r.type === 'signedBy')) store.push(`lookaside ${l.url}`);
        if (useSigstoreAttachments(conf, ref) && reqs.some((r) => r.type === 'sigstoreSigned')) store.push('registry (sigstore attachments)');
      } catch {
        // a scope that is not a reference (e.g. a bare host with a port) has no lookup of its own
      }
    }
    return { transport, scope, type: [...new Set(reqs.map((r) => TYPE[r.type] ?? r.type))].join('+'), keys, signatureStore: store, requirements: reqs };
  };
  const rows: TrustRow[] = [row('docker', null, policy.default)];
  for (const [t, scopes] of Object.entries(policy.transports)) {
    for (const [scope, reqs] of Object.entries(scopes)) rows.push(row(t, scope, reqs));
  }
  return { policyFile: policy.file, registriesDir: dir, rows };
}
