/**
 * Engine-less label installers (SCMI's design): an INSTALL/UNINSTALL/RUN label whose command is
 * `docker run ...` or `podman run ...` needs a container engine, which a system-container host
 * does not have. When neither `docker` nor `podman` is on the PATH (ATOMIC_ENGINE_PATH overrides
 * the PATH searched, for tests and for hosts that want the engine ignored), the command is run
 * here instead: its `docker run` options are parsed, the image is checked out from our store and
 * run with the OCI runtime in the foreground, with those mounts, env and privileges. Options we
 * do not know are refused, naming them. With an engine present the label runs as before.
 *
 * Supported: --rm, --privileged, -v/--volume SRC:DST[:ro|rw|z|Z], -e/--env K[=V], --env-file F,
 * --net/--network host|none|bridge|default, --pid host, --ipc host, -w/--workdir, --entrypoint,
 * --name, -d/--detach, -t/--tty, -i/--interactive (also -it, -dit, ...; --opt=value forms).
 *
 * Differences from an engine, shown by --display: the container always runs in the foreground
 * and is always removed (-d, --rm); its root is the store's read-only hardlink checkout with tmpfs
 * on /tmp and /run; without --net host it gets its own network namespace with loopback only
 * (docker's bridge needs the engine); with --sysroot, absolute volume sources are taken below it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppContext } from '../context.js';
import { chooseRuntime } from '../../deploy/container-ops.js';
import { ensureImage } from '../images/ensure.js';
import { readImageConfig } from '../../image/stored-image.js';
import { generateDefaultConfig, type OciRuntimeConfig, type OciMount } from '../../render/config-json.js';
import { allProcessCapabilities } from '../../render/values.js';
import { kernelCapLastCap } from '../../host/capabilities.js';
import { checkRuntime } from '../../host/runtime.js';
import { underRoot } from '../../host/sysroot.js';
import { isValidContainerName } from '../../deploy/container-name.js';
import { checkoutLayers } from '../../store/checkout.js';
import { layerCommits } from '../../image/stored-image.js';
import { AtomicError } from '../../util/errors.js';
import { runForeground, shellQuote } from './exec.js';
import { prepareWorkDir, removeWorkDir, deleteLeftover } from '../containers/run-once.js';
import { atomicEnv } from '../../util/env.js';

export interface EngineRun {
  engine: 'docker' | 'podman';
  rm: boolean;
  privileged: boolean;
  volumes: { source: string; destination: string; readonly: boolean }[];
  env: string[];
  envFiles: string[];
  network: 'host' | 'none';
  pidHost: boolean;
  ipcHost: boolean;
  workdir?: string;
  entrypoint?: string;
  name?: string;
  detach: boolean;
  tty: boolean;
  interactive: boolean;
  image: string;
  args: string[];
}

/** The first docker or podman on PATH (ATOMIC_ENGINE_PATH overrides the PATH searched), or null. */
export function findEngine(env: NodeJS.ProcessEnv = process.env): string | null {
  const dirs = (atomicEnv('ATOMIC_ENGINE_PATH', env) ?? env.PATH ?? '').split(':').filter(Boolean);
  for (const e of ['docker', 'podman']) {
    for (const d of dirs) {
      const p = path.join(d, e);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        if (fs.statSync(p).isFile()) return p;
      } catch {
        /* next */
      }
    }
  }
  return null;
}

/**
 * Split a shell command line into words the way /bin/sh would for a simple command: quotes,
 * backslashes, line continuations, $VAR / ${VAR} from `env`. Returns null when the line uses
 * anything else (pipes, lists, redirections, command substitution, globbing is not done): such
 * a command is not a plain `docker run`.
 */
export function shellWords(line: string, env: Record<string, string | undefined>): string[] | null {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const expand = (s: string, j: number): [string, number] | null => {
    const m = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/.exec(s.slice(j));
    if (!m) return null;
    return [env[m[1] ?? m[2]] ?? '', m[0].length];
  };
  while (i < line.length) {
    const ch = line[i];
    if (ch === '\\') {
      if (line[i + 1] === '\n') {
        i += 2;
        continue;
      }
      cur += line[i + 1] ?? '';
      inWord = true;
      i += 2;
      continue;
    }
    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return null;
      cur += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
      continue;
    }
    if (ch === '"') {
      i++;
      inWord = true;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && '\\"$`\n'.includes(line[i + 1] ?? '')) {
          if (line[i + 1] !== '\n') cur += line[i + 1];
          i += 2;
          continue;
        }
        if (line[i] === '`' || (line[i] === '$' && line[i + 1] === '(')) return null;
        if (line[i] === '$') {
          const e = expand(line, i);
          if (e) {
            cur += e[0];
            i += e[1];
            continue;
          }
        }
        cur += line[i++];
      }
      if (i >= line.length) return null;
      i++;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      i++;
      continue;
    }
    if (';|&<>()`'.includes(ch) || (ch === '$' && line[i + 1] === '(')) return null;
    if (ch === '$') {
      const e = expand(line, i);
      if (e) {
        cur += e[0];
        inWord = inWord || e[0] !== '';
        i += e[1];
        continue;
      }
    }
    cur += ch;
    inWord = true;
    i++;
  }
  if (inWord) words.push(cur);
  return words;
}

const VALUE_OPTS = new Set(['-v', '--volume', '-e', '--env', '--env-file', '--net', '--network', '--pid', '--ipc', '-w', '--workdir', '--entrypoint', '--name']);
const BOOL_OPTS = new Set(['--rm', '--privileged', '-d', '--detach', '-t', '--tty', '-i', '--interactive']);

function refuse(message: string, suggestion: string): AtomicError {
  return new AtomicError('NOT_SUPPORTED', message, { suggestions: [suggestion] });
}

/** A boolean option of `docker run` (true unless `--opt=false`). */
function setEngineBool(r: EngineRun, o: string, v = true): void {
  if (o === '--rm') r.rm = v;
  else if (o === '--privileged') r.privileged = v;
  else if (o === '-d' || o === '--detach') r.detach = v;
  else if (o === '-t' || o === '--tty') r.tty = v;
  else if (o === '-i' || o === '--interactive') r.interactive = v;
}

/** An option of `docker run` with a value; what cannot run without the engine is refused. */
function setEngineValue(r: EngineRun, o: string, v: string): void {
  const engine = r.engine;
  switch (o) {
    case '-v':
    case '--volume': {
      const parts = v.split(':');
      if (parts.length < 2 || !parts[0].startsWith('/') || !parts[1].startsWith('/')) {
        throw refuse(
          `${engine} run option ${o} ${v}: only bind mounts HOSTPATH:CONTAINERPATH[:ro] can be run without a container engine (named and anonymous volumes need ${engine})`,
          `Install ${engine}, or change the label to bind a host directory.`,
        );
      }
      const opts = (parts[2] ?? '').split(',').filter(Boolean);
      const bad = opts.filter((x) => !['ro', 'rw', 'z', 'Z'].includes(x));
      if (bad.length) throw refuse(`${engine} run option ${o} ${v}: unsupported volume option(s) ${bad.join(', ')}`, 'Use ro or rw.');
      r.volumes.push({ source: parts[0], destination: parts[1], readonly: opts.includes('ro') });
      break;
    }
    case '-e':
    case '--env':
      r.env.push(v);
      break;
    case '--env-file':
      r.envFiles.push(v);
      break;
    case '--net':
    case '--network':
      if (v === 'host') r.network = 'host';
      else if (v === 'none' || v === 'bridge' || v === 'default') r.network = 'none';
      else
        throw refuse(
          `${engine} run option ${o}=${v}: only host, none and the default network can be run without a container engine`,
          `Install ${engine}, or use --net=host in the label.`,
        );
      break;
    case '--pid':
    case '--ipc':
      if (v !== 'host') throw refuse(`${engine} run option ${o}=${v}: only "host" can be run without a container engine`, `Install ${engine}, or use ${o}=host in the label.`);
      if (o === '--pid') r.pidHost = true;
      else r.ipcHost = true;
      break;
    case '-w':
    case '--workdir':
      r.workdir = v;
      break;
    case '--entrypoint':
      r.entrypoint = v;
      break;
    case '--name':
      r.name = v;
      break;
  }
}

/**
 * The options of `docker run` from words[2] on, into `r`: where the image is (`next`), and the
 * options we do not know (`unknown`, each skipping the value it most likely has).
 */
function parseEngineOptions(words: string[], r: EngineRun): { next: number; unknown: string[] } {
  const unknown: string[] = [];
  const setBool = (o: string, v = true): void => setEngineBool(r, o, v);
  const setValue = (o: string, v: string): void => setEngineValue(r, o, v);
  let i = 2;
  for (; i < words.length; i++) {
    const w = words[i];
    if (w === '--') {
      i++;
      break;
    }
    if (!w.startsWith('-') || w === '-') break;
    if (w.startsWith('--')) {
      const eq = w.indexOf('=');
      const o = eq > 0 ? w.slice(0, eq) : w;
      if (BOOL_OPTS.has(o)) {
        const v = eq > 0 ? w.slice(eq + 1) : 'true';
        if (v !== 'true' && v !== 'false') unknown.push(w);
        else setBool(o, v === 'true');
      } else if (VALUE_OPTS.has(o)) {
        if (eq > 0) setValue(o, w.slice(eq + 1));
        else if (i + 1 < words.length) setValue(o, words[++i]);
        else unknown.push(`${w} (without a value)`);
      } else {
        unknown.push(o);
        // most docker options take a value: skip it so the rest is still listed
        if (eq < 0 && i + 1 < words.length && !words[i + 1].startsWith('-') && i + 2 < words.length) i++;
      }
      continue;
    }
    // short options: -it, -dit, -v SRC:DST, -vSRC:DST, -e K=V
    const o = w.slice(0, 2);
    if (VALUE_OPTS.has(o)) {
      if (w.length > 2) setValue(o, w.slice(2).replace(/^=/, ''));
      else if (i + 1 < words.length) setValue(o, words[++i]);
      else unknown.push(`${w} (without a value)`);
      continue;
    }
    const letters = w.slice(1).split('');
    if (letters.every((c) => BOOL_OPTS.has(`-${c}`))) for (const c of letters) setBool(`-${c}`);
    else {
      unknown.push(w);
      if (w.length === 2 && i + 1 < words.length && !words[i + 1].startsWith('-') && i + 2 < words.length) i++;
    }
  }
  return { next: i, unknown };
}

/**
 * The `docker run`/`podman run` of WORDS, or null when WORDS is not one. Unknown options and
 * values we cannot honour are refused (NOT_SUPPORTED) naming them.
 */
export function parseEngineRun(words: string[]): EngineRun | null {
  const engine = path.basename(words[0] ?? '');
  if ((engine !== 'docker' && engine !== 'podman') || words[1] !== 'run') return null;
  const r: EngineRun = {
    engine,
    rm: false,
    privileged: false,
    volumes: [],
    env: [],
    envFiles: [],
    network: 'none',
    pidHost: false,
    ipcHost: false,
    detach: false,
    tty: false,
    interactive: false,
    image: '',
    args: [],
  };
  const { next: i, unknown } = parseEngineOptions(words, r);
  if (unknown.length > 0) {
    throw refuse(
      `${engine} run option(s) not supported without a container engine: ${unknown.join(', ')}`,
      `Install ${engine} (the label is then run as it is), or remove those options from the label. Supported: --rm --privileged -v/--volume -e/--env --env-file --net/--network host --pid host --ipc host -w --entrypoint --name -d -t -i.`,
    );
  }
  if (i >= words.length) throw refuse(`${engine} run without an image: ${words.join(' ')}`, 'Fix the label: docker run [OPTIONS] IMAGE [COMMAND...]');
  r.image = words[i];
  r.args = words.slice(i + 1);
  return r;
}

function parseEnvFile(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new AtomicError('NOT_FOUND', `--env-file ${file}: ${(e as Error).message}`, { suggestions: ['Create the file, or remove --env-file from the label.'] });
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** The env entries of the run: -e K=V as given, -e K from ENV (absent: left out, as docker does). */
function resolveEnv(run: EngineRun, env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const e of [...run.envFiles.flatMap(parseEnvFile), ...run.env]) {
    if (e.includes('=')) out.push(e);
    else if (env[e] !== undefined) out.push(`${e}=${env[e]}`);
  }
  return out;
}

/** The lines --display adds after the command: how it will be run. */
export function describeEngineless(run: EngineRun, runtime: string, sysroot: string): string[] {
  const lines = [`# no docker or podman on this host: atomic runs this ${run.engine} run itself, with ${runtime} in the foreground:`];
  lines.push(
    `#   image ${run.image} (from the atomic store), command: ${[...(run.entrypoint ? [run.entrypoint] : ['(image entrypoint)']), ...(run.args.length ? run.args : run.entrypoint ? [] : ['(image cmd)'])].map(shellQuote).join(' ')}`,
  );
  for (const v of run.volumes) lines.push(`#   bind ${sysroot === '/' ? v.source : underRoot(sysroot, v.source)} -> ${v.destination}${v.readonly ? ' (read-only)' : ''}`);
  if (run.env.length || run.envFiles.length) lines.push(`#   env ${[...run.env, ...run.envFiles.map((f) => `(file ${f})`)].join(' ')}`);
  lines.push(
    `#   ${run.privileged ? 'privileged (all capabilities, host devices)' : 'default capabilities'}; network ${run.network === 'host' ? 'host' : 'own namespace (loopback only)'}; pid ${run.pidHost ? 'host' : 'own'}; ipc ${run.ipcHost ? 'host' : 'own'}${run.workdir ? `; workdir ${run.workdir}` : ''}`,
  );
  if (run.detach) lines.push('#   -d is ignored: the installer runs in the foreground');
  return lines;
}

/** Every capability this process can grant (its bounding set; names in kernel number order), as docker's --privileged does. */
function capabilityList(): string[] {
  const names = allProcessCapabilities(kernelCapLastCap())
    .split(',')
    .map((s) => s.trim().replace(/^"|"$/g, ''))
    .filter(Boolean);
  let bnd: bigint | null = null;
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) bnd = BigInt(`0x${m[1]}`);
  } catch {
    bnd = null;
  }
  return bnd === null ? names : names.filter((_, i) => ((bnd as bigint) >> BigInt(i)) & 1n);
}

/** The OCI config of RUN for the checkout in WORK. */
async function engineConfig(
  ctx: AppContext,
  run: EngineRun,
  image: Parameters<typeof readImageConfig>[1],
  env: Record<string, string | undefined>,
  hostname: string,
): Promise<OciRuntimeConfig> {
  const repo = await ctx.repo();
  const ic = ((await readImageConfig(repo, image))?.config ?? {}) as {
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Env?: string[] | null;
    WorkingDir?: string | null;
    User?: string | null;
  };
  // docker: --entrypoint replaces the image's entrypoint and resets its cmd; ARGs replace the cmd
  const entry = run.entrypoint !== undefined ? [run.entrypoint] : (ic.Entrypoint ?? []);
  const cmd = run.args.length > 0 ? run.args : run.entrypoint !== undefined ? [] : (ic.Cmd ?? []);
  const config = generateDefaultConfig({ ...ic, Entrypoint: entry, Cmd: cmd } as never, { userMode: false, hostname }) as OciRuntimeConfig;
  const proc = config.process!;
  proc.args = [...entry, ...cmd];
  if (proc.args.length === 0) throw new AtomicError('USAGE', `${run.engine} run ${run.image}: no command (the image has no entrypoint or cmd and the label gives none)`);
  const extra = resolveEnv(run, env);
  const keys = new Set(extra.map((e) => e.split('=')[0]));
  proc.env = [...(proc.env ?? []).filter((e) => !keys.has(e.split('=')[0])), ...extra];
  if (run.workdir) proc.cwd = run.workdir;
  proc.terminal = run.tty && Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const linux = (config.linux ??= {});
  let ns = (linux.namespaces ?? []).filter((n) => !(run.pidHost && n.type === 'pid') && !(run.ipcHost && n.type === 'ipc') && n.type !== 'network');
  if (run.network !== 'host') ns = [...ns, { type: 'network' }];
  linux.namespaces = ns;
  let mounts: OciMount[] = [...(config.mounts ?? [])];
  if (run.privileged) {
    const caps = capabilityList();
    proc.capabilities = { bounding: caps, effective: caps, permitted: caps };
    proc.noNewPrivileges = false;
    delete linux.maskedPaths;
    delete linux.readonlyPaths;
    mounts = mounts.map((m) => (m.destination === '/sys' ? { ...m, options: (m.options ?? []).filter((o) => o !== 'ro') } : m));
    mounts = mounts.filter((m) => !m.destination.startsWith('/dev'));
    mounts.push({ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind', 'rw'] });
  }
  const dests = new Set(run.volumes.map((v) => v.destination));
  mounts = mounts.filter((m) => !dests.has(m.destination));
  for (const v of run.volumes) {
    const source = ctx.paths.sysroot === '/' ? v.source : underRoot(ctx.paths.sysroot, v.source);
    if (!fs.existsSync(source))
      throw new AtomicError('NOT_FOUND', `${run.engine} run -v ${v.source}:${v.destination}: ${source} does not exist`, {
        suggestions: [`Create ${source} first (docker would create it; atomic does not create host directories for a label).`],
      });
    mounts.push({ destination: v.destination, type: 'bind', source, options: ['rbind', v.readonly ? 'ro' : 'rw'] });
  }
  config.mounts = mounts;
  return config;
}

/**
 * Run the `docker run` of a label without an engine; returns the container's exit status.
 * `env` is the label command's environment (NAME, IMAGE, CONFDIR, ... and ours).
 */
export async function runEngineless(ctx: AppContext, run: EngineRun, env: Record<string, string | undefined>, fallbackName: string): Promise<number> {
  const runtime = chooseRuntime(ctx, undefined);
  checkRuntime(runtime);
  const { image } = await ensureImage(ctx, run.image);
  const repo = await ctx.repo();
  const id = run.name && isValidContainerName(run.name) ? run.name : `${isValidContainerName(fallbackName) ? fallbackName : 'label'}-${process.pid}`;
  const work = prepareWorkDir(repo.path);
  try {
    const config = await engineConfig(ctx, run, image, env, id);
    await checkoutLayers(repo, await layerCommits(repo, image), path.join(work, 'rootfs'), { userMode: repo.mode !== 'bare', onWarning: (w) => ctx.out.warn(w) });
    config.root = { path: path.join(work, 'rootfs'), readonly: true };
    fs.writeFileSync(path.join(work, 'config.json'), JSON.stringify(config, null, 4) + '\n', { mode: 0o644 });
    return await runForeground(runtime, ['run', '--bundle', work, id], { cwd: work });
  } finally {
    deleteLeftover(runtime, id, work);
    removeWorkDir(work);
  }
}
