/** Shared inputs of the container use cases: --set parsing and the runtime choice. */
import type { DeployContext } from './context.js';
import { defaultRuntime } from '../host/runtime.js';
import { AtomicError } from '../util/errors.js';

/** atomic's --set parsing: split at the first '='. */
export function parseSetValues(sets: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of sets ?? []) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new AtomicError('USAGE', `Invalid value '${s}'.  Expected form NAME=VALUE`, { suggestions: ['Use --set NAME=VALUE.'] });
    const k = s.slice(0, eq);
    if (!/^[_A-Za-z][_A-Za-z0-9]*$/.test(k)) throw new AtomicError('USAGE', `Invalid variable name '${k}' in --set: use letters, digits and '_'`);
    out[k] = s.slice(eq + 1);
  }
  return out;
}

export function chooseRuntime(ctx: DeployContext, flag: string | undefined, stored?: string): string {
  if (flag) return flag;
  if (!ctx.paths.userMode && ctx.paths.conf.runtime) return ctx.paths.conf.runtime;
  return stored ?? defaultRuntime();
}
