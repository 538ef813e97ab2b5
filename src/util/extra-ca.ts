/**
 * NODE_EXTRA_CA_CERTS, loaded at the first TLS connection that needs it instead of at node's
 * start-up. bin/run.js's first line (read by sh) moves the file name to
 * ATOMIC_NODE_EXTRA_CA_CERTS before node starts, because node parses that file eagerly (~40 ms
 * for a distribution's whole bundle) even for commands that make no TLS connection. Node's rule
 * stays ours: the file's certificates extend the system roots for every verified connection,
 * also where a registry's certs.d CAs extend them (node itself drops them there: an explicit `ca`
 * replaces its default store).
 */
import * as fs from 'node:fs';

export interface ExtraCa {
  /** The file's PEM text ([] when there is no file or it cannot be read). */
  pem: string[];
  /** True when node did not load the file at start-up (bin/run.js deferred it). */
  deferred: boolean;
}

let loaded: { file: string; pem: string[] } | undefined;

/**
 * The NODE_EXTRA_CA_CERTS certificates, read once. `node bin/run.js` run directly leaves
 * NODE_EXTRA_CA_CERTS to node (deferred false); ATOMIC_NODE_EXTRA_CA_CERTS inherited from a
 * parent atomic names the same file node loaded: adding its certificates again is harmless.
 */
export function extraCaCertificates(env: NodeJS.ProcessEnv = process.env): ExtraCa {
  const deferred = !!env.ATOMIC_NODE_EXTRA_CA_CERTS;
  const file = env.ATOMIC_NODE_EXTRA_CA_CERTS || env.NODE_EXTRA_CA_CERTS;
  if (!file) return { pem: [], deferred: false };
  if (loaded?.file !== file) {
    let pem: string[] = [];
    try {
      pem = [fs.readFileSync(file, 'utf8')];
    } catch (e) {
      // node's own words for a file it cannot load; it goes on without it, and so do we (node
      // printed this at start-up already when it was not deferred)
      if (deferred) process.stderr.write(`Warning: Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}\n`);
    }
    loaded = { file, pem };
  }
  return { pem: loaded.pem, deferred };
}
