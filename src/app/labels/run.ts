/**
 * Label-driven install/uninstall/run (atomic's docker-backend `atomic install|uninstall|run IMAGE`):
 * the image carries the command line of its own installer in an `INSTALL`, `UNINSTALL` or `RUN`
 * label; atomic substitutes a few words and runs it on the host.
 *
 * Substitution (atomic's `gen_cmd` + `sub_env_strings`, made quote-aware):
 * - an unquoted word that is exactly `IMAGE` or `NAME` becomes the image name / container name,
 *   `IMAGE=IMAGE` and `NAME=NAME` become `IMAGE=<image>` / `NAME=<name>` (the docker `-e` idiom);
 * - `$NAME`, `${NAME}`, `$IMAGE`, `${IMAGE}`, `$CONFDIR`, `${CONFDIR}`, `$LOGDIR`, `${LOGDIR}`,
 *   `$DATADIR`, `${DATADIR}` outside single quotes are replaced by their values (what the shell
 *   would expand them to anyway, so `--display` shows the resolved command); inside single
 *   quotes they are left for the inner command, which gets the same values from its environment;
 * - every other `$VAR` is left to the shell (atomic deleted undefined variables, which broke
 *   `sh -c '... $1 ...'` commands);
 * - substituted values that are not plain words are shell-quoted, so an odd image name cannot
 *   inject shell syntax; the extra ARGs are shell-quoted and appended (atomic's `pipes.quote`).
 * The result runs as `/bin/sh -c COMMAND` with NAME, IMAGE, CONFDIR, LOGDIR, DATADIR and HOST in
 * its environment. CONFDIR/LOGDIR/DATADIR are `/etc/NAME`, `/var/log/NAME`, `/var/lib/NAME` below
 * the --sysroot (so with `--sysroot S` they are `S/etc/NAME`, ...), and HOST is the sysroot
 * directory ('' for `/`, so `$HOST/etc/x` is always the host's /etc/x).
 */
import * as fs from 'node:fs';
import type { AppContext } from '../context.js';
import { underRoot } from '../../host/sysroot.js';
import { AtomicError } from '../../util/errors.js';
import { runForeground, shellQuote } from './exec.js';
import { shellWords, parseEngineRun, findEngine, describeEngineless, runEngineless } from './engineless.js';
import { chooseRuntime } from '../../deploy/container-ops.js';
import { stripTransport } from '../../image/reference.js';

export type LabelAction = 'INSTALL' | 'UNINSTALL' | 'RUN';

/**
 * A label by key, the way atomic looked it up (`label`, `label.lower()`, `label.capitalize()`,
 * `label.upper()`), then any other spelling of the key, case-insensitively (first in sorted order).
 */
export function findLabel(labels: Record<string, string>, key: string): string | undefined {
  const lower = key.toLowerCase();
  for (const k of [key, lower, lower.charAt(0).toUpperCase() + lower.slice(1), key.toUpperCase()]) {
    if (Object.prototype.hasOwnProperty.call(labels, k) && typeof labels[k] === 'string') return labels[k];
  }
  const other = Object.keys(labels).sort().find((k) => k.toLowerCase() === lower && typeof labels[k] === 'string');
  return other === undefined ? undefined : labels[other];
}

/** atomic's generic default name: the last path part of the image, without tag or digest. */
export function defaultLabelName(image: string): string {
  let s = image.replace(/@[A-Za-z0-9_+.-]+:[0-9a-fA-F]+$/, '');
  s = stripTransport(s, { label: true });
  const last = s.split('/').pop() ?? s;
  return last.split(':')[0];
}

export interface LabelVars {
  NAME: string;
  IMAGE: string;
  CONFDIR: string;
  LOGDIR: string;
  DATADIR: string;
  /** The host root the command works on: the sysroot, '' for '/'. */
  HOST: string;
}

export function labelVars(sysroot: string, name: string, image: string): LabelVars {
  return {
    NAME: name,
    IMAGE: image,
    CONFDIR: underRoot(sysroot, `/etc/${name}`),
    LOGDIR: underRoot(sysroot, `/var/log/${name}`),
    DATADIR: underRoot(sysroot, `/var/lib/${name}`),
    HOST: sysroot === '/' ? '' : sysroot,
  };
}

/** Inside double quotes: escape the four characters the shell still interprets there. */
function dquoteEscape(s: string): string {
  return s.replace(/([\\"$`])/g, '\\$1');
}

const SUBST_VARS = new Set(['NAME', 'IMAGE', 'CONFDIR', 'LOGDIR', 'DATADIR']);

/**
 * The command line of a label with the substitutions described in the module comment, plus the
 * extra arguments (shell-quoted). Pure.
 */
export function buildLabelCommand(label: string, vars: LabelVars, extraArgs: string[] = []): string {
  const words: Record<string, string> = {
    IMAGE: shellQuote(vars.IMAGE),
    NAME: shellQuote(vars.NAME),
    'IMAGE=IMAGE': `IMAGE=${shellQuote(vars.IMAGE)}`,
    'NAME=NAME': `NAME=${shellQuote(vars.NAME)}`,
  };
  const value = (k: string): string => (vars as unknown as Record<string, string>)[k];
  const t = label.trim();
  let out = '';
  let i = 0;
  let state: 'plain' | 'single' | 'double' = 'plain';
  let wordStart = 0; // offset in `out` where the current unquoted-only word began
  let wordQuoted = false; // the current word contains quotes or substitutions
  const atWordStart = (): boolean => out.length === 0 || /\s/.test(out[out.length - 1]);
  while (i < t.length) {
    const ch = t[i];
    if (state === 'single') {
      out += ch;
      if (ch === "'") state = 'plain';
      i++;
      continue;
    }
    if (state === 'plain' && /\s/.test(ch)) {
      // end of a word: whole-word substitutions
      const w = out.slice(wordStart);
      if (!wordQuoted && Object.prototype.hasOwnProperty.call(words, w)) out = out.slice(0, wordStart) + words[w];
      out += ch;
      i++;
      wordStart = out.length;
      wordQuoted = false;
      continue;
    }
    if (state === 'plain' && atWordStart()) {
      wordStart = out.length;
      wordQuoted = false;
    }
    if (ch === '\\') {
      out += t.slice(i, i + 2);
      i += 2;
      wordQuoted = true;
      continue;
    }
    if (ch === "'" && state === 'plain') {
      state = 'single';
      out += ch;
      i++;
      wordQuoted = true;
      continue;
    }
    if (ch === '"') {
      state = state === 'double' ? 'plain' : 'double';
      out += ch;
      i++;
      wordQuoted = true;
      continue;
    }
    if (ch === '$') {
      const m = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/.exec(t.slice(i));
      const key = m ? (m[1] ?? m[2]) : undefined;
      if (m && key !== undefined && SUBST_VARS.has(key)) {
        const v = value(key);
        out += state === 'double' ? dquoteEscape(v) : shellQuote(v);
        i += m[0].length;
        wordQuoted = true;
        continue;
      }
    }
    out += ch;
    i++;
  }
  if (state === 'plain') {
    const w = out.slice(wordStart);
    if (!wordQuoted && Object.prototype.hasOwnProperty.call(words, w)) out = out.slice(0, wordStart) + words[w];
  }
  return [out, ...extraArgs.map(shellQuote)].filter((s) => s !== '').join(' ');
}

export interface LabelCommandInput {
  action: LabelAction;
  /** The image's labels. */
  labels: Record<string, string>;
  /** The image name used for IMAGE (the name in the store). */
  image: string;
  name: string;
  args: string[];
  display: boolean;
}

/** The resolved command of a label action; throws IMAGE_LABEL_MISSING when the image has no such label. */
export function resolveLabelCommand(ctx: AppContext, inp: LabelCommandInput): { command: string; vars: LabelVars } {
  const label = findLabel(inp.labels, inp.action);
  if (label === undefined || label.trim() === '') {
    const verb = inp.action.toLowerCase();
    throw new AtomicError('IMAGE_LABEL_MISSING', `Image ${inp.image} has no ${inp.action} label: there is no ${verb} command to run`, {
      suggestions: [
        `See the image's labels with: atomic info ${inp.image}`,
        inp.action === 'INSTALL' ? `To install it as a system container (with /exports) use: atomic install --system ${inp.image}` : inp.action === 'RUN' ? `To run it as a run-once container use: atomic run --storage ostree ${inp.image}` : `Remove the image with: atomic images delete ${inp.image}`,
      ],
      ref: inp.image,
    });
  }
  const vars = labelVars(ctx.paths.sysroot, inp.name, inp.image);
  return { command: buildLabelCommand(label, vars, inp.args), vars };
}

/**
 * Print the command (atomic echoed it before running it), create LOGDIR/CONFDIR/DATADIR (install
 * and run; never removed by uninstall), run it with /bin/sh -c in the foreground with the
 * terminal's stdio, and return its exit status (128+N when killed by signal N). With `display`,
 * only print.
 */
export async function runLabelAction(ctx: AppContext, inp: LabelCommandInput): Promise<number> {
  const { command, vars } = resolveLabelCommand(ctx, inp);
  const env: NodeJS.ProcessEnv = { ...process.env, NAME: vars.NAME, IMAGE: vars.IMAGE, CONFDIR: vars.CONFDIR, LOGDIR: vars.LOGDIR, DATADIR: vars.DATADIR, HOST: vars.HOST };
  // a `docker run`/`podman run` label on a host without either engine is run by us (engineless.ts)
  const words = shellWords(command, env);
  const engineRun = words ? parseEngineRun(words) : null;
  const engine = engineRun ? findEngine() : null;
  ctx.out.line(command);
  if (engineRun && engine === null) {
    if (inp.display) {
      for (const l of describeEngineless(engineRun, chooseRuntime(ctx, undefined), ctx.paths.sysroot)) ctx.out.line(l);
      return 0;
    }
    makeLabelDirs(inp, vars);
    return runEngineless(ctx, engineRun, env, inp.name);
  }
  if (engineRun && inp.display) ctx.out.line(`# run by ${engine}`);
  if (inp.display) return 0;
  makeLabelDirs(inp, vars);
  return runForeground('/bin/sh', ['-c', command], { env });
}

function makeLabelDirs(inp: LabelCommandInput, vars: LabelVars): void {
  if (inp.action !== 'UNINSTALL') {
    for (const d of [vars.LOGDIR, vars.CONFDIR, vars.DATADIR]) {
      try {
        fs.mkdirSync(d, { recursive: true, mode: 0o755 });
      } catch (e) {
        throw new AtomicError('PERMISSION', `cannot create ${d} for ${inp.name}: ${(e as Error).message}`, {
          suggestions: ['Run as root, or use --sysroot DIR to work below another root.'],
          cause: e,
        });
      }
    }
  }
}

export { runForeground, shellQuote };
