/** Rendering of errors for humans (stderr) and for --json. Stack traces only with --debug. */
import { isAtomicError } from '../util/errors.js';
import { atomicEnv } from '../util/env.js';

export function printError(err: unknown, json: boolean): void {
  const debug = atomicEnv('ATOMIC_DEBUG') === '1';
  if (json && isAtomicError(err)) {
    process.stdout.write(JSON.stringify({ ok: false, code: err.code, message: err.message, suggestions: err.suggestions }, null, 2) + '\n');
    return;
  }
  const lines: string[] = [];
  if (isAtomicError(err)) {
    lines.push(headline(err.message));
    if (debug) lines.push(`Code: ${err.code}`);
    for (const s of err.suggestions) lines.push(`Try this: ${s}`);
  } else if (err instanceof Error) {
    const oclif = (err as { oclif?: unknown }).oclif;
    lines.push(headline(err.message));
    if (oclif) lines.push(`Try this: run the command with --help to see its usage.`);
  } else {
    lines.push(headline(String(err)));
  }
  if (debug && err instanceof Error) {
    lines.push(err.stack ?? '');
    let c: unknown = err.cause;
    while (c instanceof Error) {
      lines.push(`Caused by: ${c.stack ?? c.message}`);
      c = c.cause;
    }
  }
  process.stderr.write(lines.join('\n') + '\n');
}

/**
 * The first line: `Error: MESSAGE`, never `Error: Error: ...` (a message that already starts with
 * "Error:", e.g. a tool's stderr, keeps one), and a message that starts with atomic's own `Failed: `
 * (atomic pull) is printed as is.
 */
export function headline(message: string): string {
  const m = message.replace(/^(\s*error:\s*)+/i, '');
  return m.startsWith('Failed: ') ? m : `Error: ${m}`;
}
