/** What `trust add`, `trust delete` and `trust default` print: one line per file they changed. */
import type { TrustEdit } from '../app/trust/trust-edit.js';

export function trustEditLine(e: TrustEdit): string {
  switch (e.change) {
    case 'scope-set':
      return `${e.file}: ${e.transport} scope "${e.scope}" set to ${e.type}${e.pubkeys.length ? ` (${e.pubkeys.join(', ')})` : ''}`;
    case 'scope-removed':
      return `${e.file}: ${e.transport} scope "${e.scope}" removed`;
    case 'default-set':
      return `${e.file}: default set to ${e.type === 'insecureAcceptAnything' ? 'insecureAcceptAnything (images without a more specific scope are accepted WITHOUT any signature check)' : 'reject'}`;
    case 'lookaside-set':
      return `registries.d: ${e.file}: lookaside ${e.url}`;
    case 'attachments-set':
      return `registries.d: ${e.file}: use-sigstore-attachments: true`;
    case 'registries-entry-removed':
      return `registries.d: ${e.file}: entry for "${e.scope}" removed`;
  }
}
