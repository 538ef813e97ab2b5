/**
 * `atomic trust add | delete | default` (atomic's trust sub-commands over containers-policy.json
 * and registries.d). The policy file written is --signature-policy, else (user mode)
 * ~/.config/containers/policy.json, else /etc/containers/policy.json; registries.d likewise.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppContext } from '../context.js';
import { AtomicError } from '../../util/errors.js';
import { policyPathForWrite, registriesDirForWrite, type Requirement } from '../../image/trust/policy.js';
import { trustSettings } from '../../image/trust/policy.js';
import { deleteRegistryEntry, deleteScope, setDefault, setRegistryEntry, setScope } from '../../image/trust/policy-edit.js';
import { dearmor } from '../../image/trust/gpg.js';
import { parsePublicKeys } from '../../image/trust/sigstore.js';
import { parseDockerRef } from '../../image/trust/docker-ref.js';

export interface TrustAddOptions {
  scope: string;
  /** signedBy (GPG, lookaside), sigstoreSigned (registry attachments), reject, insecureAcceptAnything. */
  type: 'signedBy' | 'sigstoreSigned' | 'reject' | 'insecureAcceptAnything';
  pubkeys?: string[];
  /** Lookaside URL for GPG signatures (file://, http://, https://). */
  sigstore?: string;
  transport?: string;
}

function checkScope(transport: string, scope: string): void {
  if (transport === 'docker') {
    if (scope.startsWith('*.')) return;
    try {
      parseDockerRef(scope);
    } catch (e) {
      throw new AtomicError('USAGE', `"${scope}" is not a registry scope: ${(e as Error).message}`, { suggestions: ['Use REGISTRY[:PORT][/NAMESPACE][/REPO], e.g. registry.example.com/apps.'] });
    }
  } else if (!scope.startsWith('/') && scope !== '') {
    throw new AtomicError('USAGE', `the ${transport} scope "${scope}" must be an absolute path`);
  }
}

function readKeys(files: string[], kind: 'gpg' | 'sigstore'): string[] {
  return files.map((f) => {
    const abs = path.resolve(f);
    let data: Buffer;
    try {
      data = fs.readFileSync(abs);
    } catch (e) {
      throw new AtomicError('USAGE', `cannot read public key ${abs}: ${(e as Error).message}`);
    }
    try {
      if (kind === 'gpg') {
        if (dearmor(data).length === 0) throw new Error('empty key');
      } else parsePublicKeys(data);
    } catch (e) {
      throw new AtomicError('USAGE', `${abs} is not a ${kind === 'gpg' ? 'GPG public key' : 'PEM public key (cosign.pub)'}: ${(e as Error).message}`);
    }
    return abs;
  });
}

/** One change trust add/delete/default made to a file (the commands print them: cli/trust-edits.ts). */
export type TrustEdit =
  | { file: string; change: 'scope-set'; transport: string; scope: string; type: TrustAddOptions['type']; pubkeys: string[] }
  | { file: string; change: 'scope-removed'; transport: string; scope: string }
  | { file: string; change: 'default-set'; type: 'insecureAcceptAnything' | 'reject' }
  | { file: string; change: 'lookaside-set'; scope: string; url: string }
  | { file: string; change: 'attachments-set'; scope: string }
  | { file: string; change: 'registries-entry-removed'; scope: string };

/** The policy file's change first, then the registries.d entry's. */
export async function trustAdd(ctx: AppContext, o: TrustAddOptions): Promise<TrustEdit[]> {
  const settings = trustSettings(ctx);
  const file = policyPathForWrite(settings);
  const transport = o.transport ?? 'docker';
  checkScope(transport, o.scope);
  const edits: TrustEdit[] = [];
  let req: Requirement;
  if (o.type === 'reject' || o.type === 'insecureAcceptAnything') {
    if (o.pubkeys?.length || o.sigstore) throw new AtomicError('USAGE', `--pubkeys and --sigstore do not apply to --type ${o.type}`);
    req = { type: o.type };
  } else {
    if (!o.pubkeys?.length) throw new AtomicError('USAGE', `--type ${o.type} needs --pubkeys FILE`, { suggestions: ['atomic trust add --sigstoretype lookaside --pubkeys /etc/pki/containers/key.gpg --sigstore file:///var/lib/containers/sigstore registry.example.com'] });
    if (transport !== 'docker') throw new AtomicError('USAGE', `signed scopes are for the docker transport only (${transport} images carry no signatures)`);
    const keys = readKeys(o.pubkeys, o.type === 'signedBy' ? 'gpg' : 'sigstore');
    const keyFields = keys.length === 1 ? { keyPath: keys[0]! } : { keyPaths: keys };
    req = o.type === 'signedBy'
      ? { type: 'signedBy', keyType: 'GPGKeys', ...keyFields, signedIdentity: { type: 'matchRepoDigestOrExact' } }
      : { type: 'sigstoreSigned', ...keyFields, signedIdentity: { type: 'matchRepoDigestOrExact' } };
    const dir = registriesDirForWrite(settings);
    if (o.type === 'signedBy') {
      if (o.sigstore) {
        if (!/^(file|https?):\/\//.test(o.sigstore)) throw new AtomicError('USAGE', `--sigstore ${o.sigstore}: use a file://, http:// or https:// URL`);
        edits.push({ file: await setRegistryEntry(dir, o.scope, { lookaside: o.sigstore }), change: 'lookaside-set', scope: o.scope, url: o.sigstore });
      }
    } else {
      if (o.sigstore) throw new AtomicError('USAGE', '--sigstore URL is for lookaside (GPG) signatures; sigstore signatures are read from the registry');
      edits.push({ file: await setRegistryEntry(dir, o.scope, { 'use-sigstore-attachments': true }), change: 'attachments-set', scope: o.scope });
    }
  }
  await setScope(file, transport, o.scope, [req]);
  edits.unshift({ file, change: 'scope-set', transport, scope: o.scope, type: o.type, pubkeys: (o.pubkeys ?? []).map((k) => path.resolve(k)) });
  return edits;
}

export async function trustDelete(ctx: AppContext, scope: string, transport = 'docker'): Promise<TrustEdit[]> {
  const settings = trustSettings(ctx);
  const file = policyPathForWrite(settings);
  const removed = await deleteScope(file, transport, scope);
  if (!removed) throw new AtomicError('NOT_FOUND', `${file} has no ${transport} scope "${scope}"`, { suggestions: ['atomic trust show lists the scopes.'] });
  const edits: TrustEdit[] = [{ file, change: 'scope-removed', transport, scope }];
  if (transport === 'docker') {
    const y = await deleteRegistryEntry(registriesDirForWrite(settings), scope);
    if (y) edits.push({ file: y, change: 'registries-entry-removed', scope });
  }
  return edits;
}

export async function trustDefault(ctx: AppContext, policy: 'accept' | 'reject'): Promise<TrustEdit[]> {
  const file = policyPathForWrite(trustSettings(ctx));
  const type = policy === 'accept' ? 'insecureAcceptAnything' : 'reject';
  await setDefault(file, { type });
  return [{ file, change: 'default-set', type }];
}
