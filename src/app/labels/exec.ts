/**
 * Running a command in the foreground (label commands, run-once containers, engine-less label
 * runs) and POSIX shell quoting for the commands atomic prints.
 */
import { spawn } from 'node:child_process';
import { AtomicError } from '../../util/errors.js';

const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** POSIX shell quoting: plain words as they are, anything else in single quotes. */
export function shellQuote(s: string): string {
  if (PLAIN_WORD.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Signals passed on to a foreground child (it gets terminal ones itself; these cover `kill PID`). */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

/**
 * Run a command in the foreground with inherited stdio; returns its exit status. While it runs,
 * SIGINT/SIGTERM/SIGHUP/SIGQUIT sent to us are forwarded to it instead of killing us, so callers
 * can still clean up after it.
 */
export function runForeground(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit', env: opts.env ?? process.env, cwd: opts.cwd });
    const handlers = FORWARDED.map((sig) => {
      const h = (): void => {
        try {
          child.kill(sig);
        } catch {
          /* already gone */
        }
      };
      process.on(sig, h);
      return [sig, h] as const;
    });
    const done = (): void => {
      for (const [sig, h] of handlers) process.off(sig, h);
    };
    child.on('error', (e) => {
      done();
      reject(new AtomicError('NOT_FOUND', `cannot run ${cmd}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      done();
      if (code !== null) resolve(code);
      else resolve(128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 1) : 1));
    });
  });
}
