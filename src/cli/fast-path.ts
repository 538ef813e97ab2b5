/**
 * Start-up fast path: `atomic --version`, `atomic images list ...` and `atomic containers list ...`
 * run without loading oclif (~160 modules, most of a call's start-up); so do the common forms of
 * `install --system IMAGE`, `containers update NAME`, `containers rollback NAME` and `uninstall
 * NAME` of a system container (DEPLOY: only the flags listed there and exactly one positional
 * word; cli/deploy-runners.ts), and of `pull IMAGE` (cli/pull-runner.ts).
 *
 * The flags are parsed from the definitions in the (fresh) oclif manifest, i.e. from the commands'
 * own static flags, and the bodies are the ones the oclif commands run (cli/list-runners.ts). The
 * parser is deliberately narrow: `--name`, `--name=value`, `--name value`, `-c`, `-c value` for
 * flags the command declares. Anything else (help, positional words, bundled short flags, `--no-`,
 * unknown flags, values outside a flag's options) is left to oclif, which then gives the same
 * result or its usual usage error. ATOMIC_NO_FAST_PATH=1 turns the fast path off (tests compare).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Manifest, ManifestFlag } from './manifest.js';
import type { ListFlags, LineSink } from './list-runners.js';
import { atomicEnv } from '../util/env.js';
import { JSON_INDENT } from '../util/format.js';

/** Prints the text form unless `--json`; returns the data `--json` prints (what run() returns to oclif). */
type Runner = (flags: ListFlags, log: LineSink) => Promise<unknown>;

const RUNNERS: Record<string, () => Promise<Runner>> = {
  'images:list': async () => (await import('./list-runners.js')).runImagesList,
  'containers:list': async () => (await import('./list-runners.js')).runContainersList,
};

/** The oclif version line (`config.userAgent`): NAME/VERSION PLATFORM-ARCH node-VERSION. */
export function versionLine(root: string): string {
  const pj = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  return `${pj.name}/${pj.version} ${os.platform()}-${os.arch()} node-${process.version}`;
}

/** The signature-policy flags (cli/trust-flags.ts): install, update and rollback pass them to their runners (cli/trust-settings.ts). */
const TRUST_FLAGS = ['signature-policy', 'registries.d', 'insecure-policy'];

/**
 * The deploy commands the fast path runs: the flags it accepts for them (anything else goes to
 * oclif: integer flags, --all, --dry-run, label-driven installs, ...) and the runner.
 */
const DEPLOY: Record<string, { flags: string[]; need?: string; last?: boolean; run: (flags: Record<string, unknown>, word: string) => Promise<boolean | void> }> = {
  install: {
    flags: ['system', 'name', 'set', 'now', 'sysroot', 'debug', 'storage', 'system-package', ...TRUST_FLAGS],
    need: 'system',
    run: async (f, w) => {
      process.exitCode = await (await import('./deploy-runners.js')).runInstallSystem(f, w);
    },
  },
  'containers:update': { flags: ['set', 'rebase', 'reset', 'sysroot', 'debug', ...TRUST_FLAGS], run: async (f, w) => (await import('./deploy-runners.js')).runContainersUpdate(f, w) },
  'containers:rollback': { flags: ['sysroot', 'debug', ...TRUST_FLAGS], run: async (f, w) => (await import('./deploy-runners.js')).runContainersRollback(f, w) },
  // a system container's name, and nothing after it (atomic's `uninstall IMAGE ARG...` hands
  // what follows the first word to the image's UNINSTALL command); an image name: oclif
  uninstall: { flags: ['sysroot', 'debug', 'storage', 'force'], last: true, run: async (f, w) => (await import('./deploy-runners.js')).runUninstallSystem(f, w) },
  pull: {
    flags: ['storage', 'name', 'type', 'sysroot', 'debug', 'src-creds', 'tls-verify', 'cert-dir', 'platform', 'arch', 'signature-policy', 'insecure-policy'],
    run: async (f, w) => (await import('./pull-runner.js')).runPull(f, w),
  },
};
/** The manifest ids of every command the fast path may run (the bundle's record carries their entries). */
export const FAST_PATH_COMMANDS: readonly string[] = [...Object.keys(RUNNERS), ...Object.keys(DEPLOY)];

/** DEPLOY commands that are one word (`install IMAGE`, not `containers update NAME`). */
const TOP_LEVEL = new Set(['install', 'pull', 'uninstall']);

/**
 * Flags parsed from ARGV with the manifest's definitions, or null when oclif must handle them.
 * With `words`, non-flag tokens are collected there (the caller checks how many it accepts).
 */
export function parseFastFlags(argv: string[], defs: Record<string, ManifestFlag>, words?: string[]): Record<string, unknown> | null {
  const byChar = new Map<string, ManifestFlag>();
  for (const d of Object.values(defs)) if (d.char) byChar.set(d.char, d);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i];
    let def: ManifestFlag | undefined;
    let value: string | undefined;
    const long = /^--([a-z][a-z0-9.-]*)(?:=([\s\S]*))?$/.exec(t);
    const short = /^-([a-zA-Z])$/.exec(t);
    if (long) {
      def = Object.hasOwn(defs, long[1]) ? defs[long[1]] : undefined;
      value = long[2];
    } else if (short) def = byChar.get(short[1]);
    else if (words && t !== '' && !t.startsWith('-')) {
      words.push(t);
      continue;
    }
    if (!def || def.name === 'help' || def.name === 'version') return null;
    if (def.type === 'boolean') {
      if (value !== undefined || def.name in out) return null;
      out[def.name] = true;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length || argv[i + 1].startsWith('-')) return null;
      value = argv[++i];
    }
    if (value === '' || (def.options && !def.options.includes(value))) return null;
    if (def.multiple) out[def.name] = [...((out[def.name] as string[] | undefined) ?? []), value];
    else if (def.name in out) return null;
    else out[def.name] = value;
  }
  for (const d of Object.values(defs)) {
    if (d.name in out) continue;
    if (d.env && process.env[d.env]) out[d.name] = d.type === 'boolean' ? null : process.env[d.env];
    else if (d.default !== undefined) out[d.name] = d.default;
    else if (d.type === 'boolean') out[d.name] = false;
    if (out[d.name] === null) return null; // boolean from the environment: oclif's truthiness rules
  }
  return out;
}

/** Runs ARGS without oclif when it can; false when the caller must run oclif. */
export async function tryFastPath(args: string[], manifest: Manifest, root: string): Promise<boolean> {
  // ATOMIC_CONTENT_TYPE=json is oclif's --json for every enableJsonFlag command: oclif's
  if (atomicEnv('ATOMIC_NO_FAST_PATH') === '1' || atomicEnv('ATOMIC_CONTENT_TYPE') !== undefined) return false;
  if (args.length === 1 && args[0] === '--version') {
    process.stdout.write(versionLine(root) + '\n');
    return true;
  }
  if (args.length < 2) return false;
  const deploy = TOP_LEVEL.has(args[0]) ? args[0] : `${args[0]}:${args[1]}`;
  if (Object.hasOwn(DEPLOY, deploy) && manifest.commands[deploy]) {
    const d = DEPLOY[deploy];
    const words: string[] = [];
    const rest = args.slice(TOP_LEVEL.has(deploy) ? 1 : 2);
    const flags = parseFastFlags(rest, manifest.commands[deploy].flags, words);
    if (!flags || words.length !== 1 || (d.last && rest[rest.length - 1] !== words[0])) return false;
    for (const [k, v] of Object.entries(flags)) {
      const def = manifest.commands[deploy].flags[k];
      // a flag given on the command line (or from its env) that is not on the list: oclif
      if (d.flags.includes(k) || v === undefined || v === def?.default) continue;
      if (v !== false || def?.default !== undefined) return false;
      // a boolean not given is undefined for oclif (--no-auto-update makes false mean something)
      delete flags[k];
    }
    if (d.need && flags[d.need] !== true) return false;
    // false: the runner declined before doing anything (uninstall of a name that is no system container)
    return (await d.run(flags, words[0])) !== false;
  }
  const id = `${args[0]}:${args[1]}`;
  const load = Object.hasOwn(RUNNERS, id) ? RUNNERS[id] : undefined;
  const cmd = manifest.commands[id];
  if (!load || !cmd || Object.keys(cmd.args ?? {}).length > 0) return false;
  const flags = parseFastFlags(args.slice(2), cmd.flags);
  if (!flags) return false;
  const run = await load();
  const data = await run(flags as ListFlags, (l) => process.stdout.write(l + '\n'));
  // what oclif prints for an enableJsonFlag command (BaseCommand.logJson)
  if (flags.json === true) process.stdout.write(JSON.stringify(data, null, JSON_INDENT) + '\n');
  return true;
}
