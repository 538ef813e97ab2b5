/**
 * Process entry: normalizes atomic-style global options, runs the command (through the start-up
 * fast path when it applies, else oclif), and is the one place that turns errors into
 * "Error: ... / Try this: ..." output and an exit code.
 *
 * oclif is loaded only when needed, and with a fresh manifest (cli/manifest.ts) it loads only the
 * command being run; a stale or missing manifest is ignored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAtomicError, EXIT } from '../util/errors.js';
import { printError } from './print-error.js';
import { loadFreshManifest, type Manifest } from './manifest.js';
import { tryFastPath } from './fast-path.js';
import { setAtomicEnv, type AtomicEnvName } from '../util/env.js';

/** Options atomic accepted before the subcommand; we turn them into environment settings. */
const LEADING_GLOBALS: Record<string, [AtomicEnvName, string]> = {
  '--debug': ['ATOMIC_DEBUG', '1'],
  '-y': ['ATOMIC_ASSUME_YES', '1'],
  '--assumeyes': ['ATOMIC_ASSUME_YES', '1'],
  '-i': ['ATOMIC_IGNORE', '1'],
  '--ignore': ['ATOMIC_IGNORE', '1'],
};

export function normalizeArgv(argv: string[]): string[] {
  const out = [...argv];
  while (out.length > 0 && out[0] in LEADING_GLOBALS) {
    const [k, v] = LEADING_GLOBALS[out.shift() as string];
    setAtomicEnv(k, v);
  }
  if (out.length === 1 && (out[0] === '-v' || out[0] === '--version')) return ['--version'];
  return out;
}

/**
 * FAST: the manifest entries of the commands the fast path runs, as the bundle's record carries
 * them (bin/run.js; scripts/gen-bundle.mjs takes them from the manifest, fresh when the bundle
 * was built): the fast path then neither reads nor checks the manifest (~9 M instructions).
 */
export async function main(argv: string[], importMetaUrl: string, fast?: Manifest): Promise<void> {
  // every file and directory gets the mode we ask for (0644/0755 by default), whatever the caller's
  // umask: under umask 000 our state would otherwise be world-writable (docs/reliability.md)
  process.umask(0o022);
  const args = normalizeArgv(argv);
  if (args.length === 1 && args[0] === '--version') {
    // atomic's `-v/--version` (argparse action='version'): the bare version number on one line
    process.stdout.write(`${packageVersion(importMetaUrl)}\n`);
    return;
  }
  if (args.includes('--debug')) setAtomicEnv('ATOMIC_DEBUG', '1');
  try {
    const root = path.resolve(path.dirname(fileURLToPath(importMetaUrl)), '..');
    if (fast && (await tryFastPath(args, fast, root))) return;
    const manifest = loadFreshManifest(root);
    if (manifest && !fast && (await tryFastPath(args, manifest, root))) return;
    // oclif checks the Node version against its own `engines` with semver (~50 files) on load;
    // package.json's engines already say which Node we need
    process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
    const { run, flush, Config, Plugin } = await import('@oclif/core');
    // the package root, not the entry's URL: oclif would take bin/package.json (which makes
    // bin/run.js CommonJS) for the root
    if (manifest) await run(args, root);
    else {
      // Build the root plugin from the command files themselves, ignoring a stale manifest.
      const plugin = new Plugin({ root, type: 'core', isRoot: true, ignoreManifest: true });
      await plugin.load();
      await run(args, await Config.load({ root, plugins: new Map([[plugin.name, plugin]]) }));
    }
    await flush();
  } catch (err) {
    process.exitCode = exitCodeFor(err);
    if (!isSilentExit(err)) printError(err, args.includes('--json'));
  }
}

/** The version in our package.json (found upwards from the package root, the entry point's parent directory: not bin/package.json). */
export function packageVersion(importMetaUrl: string): string {
  let dir = path.resolve(path.dirname(fileURLToPath(importMetaUrl)), '..');
  for (;;) {
    const f = path.join(dir, 'package.json');
    if (fs.existsSync(f)) return String((JSON.parse(fs.readFileSync(f, 'utf8')) as { version?: string }).version ?? '0.0.0');
    const up = path.dirname(dir);
    if (up === dir) return '0.0.0';
    dir = up;
  }
}

function isSilentExit(err: unknown): boolean {
  // `this.exit(n)` inside a command and oclif's help/version exits (oclif's ExitError has code EEXIT)
  return (err as { code?: string })?.code === 'EEXIT';
}

export function exitCodeFor(err: unknown): number {
  if (isAtomicError(err)) return err.exitCode;
  const oclif = (err as { oclif?: { exit?: number } })?.oclif;
  if (oclif && typeof oclif.exit === 'number') {
    // oclif parse errors (unknown flag, missing arg) are usage errors
    return oclif.exit === 1 || oclif.exit === 2 ? EXIT.USAGE : oclif.exit;
  }
  return EXIT.FAILURE;
}
