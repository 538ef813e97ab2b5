/**
 * The oclif command manifest (oclif.manifest.json at the package root), written by
 * `npm run build` (scripts/gen-manifest.mjs) so that a call loads only the command it runs.
 *
 * A manifest is trusted only while it describes the compiled code: it records a fingerprint of
 * dist/src (path, size and mtime of every .js file). After a bare `tsc` (or any edit of dist) the
 * fingerprint differs, and the CLI ignores the manifest and lets oclif read the command files
 * themselves — slower, never wrong.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';

export const MANIFEST_FILE = 'oclif.manifest.json';

/** What the CLI needs of a manifest entry: oclif's cached flag definitions. */
export interface ManifestFlag {
  name: string;
  type: 'boolean' | 'option';
  char?: string;
  multiple?: boolean;
  options?: string[];
  default?: unknown;
  env?: string;
  allowNo?: boolean;
}

export interface Manifest {
  version: string;
  commands: Record<string, { flags: Record<string, ManifestFlag>; args: Record<string, unknown> }>;
  atomic?: { fingerprint: string };
}

/** Fingerprint of the compiled sources: every .js file below ROOT/dist/src, with its size and mtime. */
export function distFingerprint(root: string): string {
  const h = createHash('sha256');
  const base = path.join(root, 'dist', 'src');
  const walk = (dir: string, rel: string): void => {
    const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else if (e.name.endsWith('.js')) {
        const st = fs.statSync(path.join(dir, e.name));
        h.update(`${r}\0${st.size}\0${st.mtimeMs}\n`);
      }
    }
  };
  walk(base, '');
  return h.digest('hex');
}

/** The manifest when it exists and matches the compiled code and package version, else null. */
export function loadFreshManifest(root: string): Manifest | null {
  let m: Manifest;
  let version: string;
  try {
    m = JSON.parse(fs.readFileSync(path.join(root, MANIFEST_FILE), 'utf8')) as Manifest;
    version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
  try {
    if (m.version !== version || !m.atomic || m.atomic.fingerprint !== distFingerprint(root)) return null;
  } catch {
    return null;
  }
  return m;
}
