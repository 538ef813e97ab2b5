/**
 * The oclif command manifest (oclif.manifest.json at the package root), written by
 * `npm run build` (scripts/gen-manifest.mjs) so that a call loads only the command it runs.
 *
 * A manifest is trusted only while it describes the compiled code: it records the size and mtime
 * of every compiled command file and of every other file importing oclif. After a bare `tsc`
 * (which rewrites every output file) or a command added or removed, the fingerprint differs, and the CLI ignores the manifest and lets oclif read the command files
 * themselves — slower, never wrong.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

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
  atomic?: { fingerprint: string; files: string[] };
}

/**
 * Files whose compiled form the manifest depends on: every command file, and every other compiled
 * file that imports oclif (flag definitions shared by commands). `tsc` rewrites every output file
 * on each build, so any rebuild changes their mtimes; stat'ing this short list is enough.
 */
export function manifestSources(root: string): string[] {
  const base = path.join(root, 'dist', 'src');
  const out: string[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else if (e.name.endsWith('.js') && (r.startsWith('commands/') || fs.readFileSync(path.join(dir, e.name), 'utf8').includes("from '@oclif/core'"))) out.push(r);
    }
  };
  walk(base, '');
  return out.sort();
}

/** The command files present now (relative to dist/src), sorted. */
function commandFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else if (e.name.endsWith('.js')) out.push(r);
    }
  };
  walk(path.join(root, 'dist', 'src', 'commands'), 'commands');
  return out.sort();
}

/**
 * Fingerprint of FILES (relative to dist/src): path, size and mtime of each, as one string (no
 * hash: node:crypto alone costs ~20 M instructions to load, more than the rest of `--version`).
 */
export function distFingerprint(root: string, files: string[]): string {
  let out = '';
  for (const r of files) {
    const st = fs.statSync(path.join(root, 'dist', 'src', r));
    out += `${r}:${st.size}:${st.mtimeMs}\n`;
  }
  return out;
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
    if (m.version !== version || !m.atomic || !Array.isArray(m.atomic.files)) return null;
    // a command added or removed since, or any listed file rebuilt
    const cmds = commandFiles(root);
    if (cmds.some((c) => !m.atomic!.files.includes(c)) || m.atomic.files.filter((f) => f.startsWith('commands/')).length !== cmds.length) return null;
    if (m.atomic.fingerprint !== distFingerprint(root, m.atomic.files)) return null;
  } catch {
    return null;
  }
  return m;
}
