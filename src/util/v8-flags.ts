/**
 * V8 flags set while running (v8.setFlagsFromString), remembered so that they can be set again:
 * Node resets V8's flags to the command line's while a worker thread boots (measured with Node
 * 20: after a Worker came online, `--semi-space-growth-factor=1` no longer held and the main
 * thread's young generation grew to 16 MiB again). Whoever starts a worker calls
 * reapplyV8Flags() once it is online.
 */
import { setFlagsFromString } from 'node:v8';

const applied: string[] = [];

/** Set `flags` now and remember them for reapplyV8Flags(). */
export function setV8Flags(flags: readonly string[]): void {
  for (const f of flags) {
    setFlagsFromString(f);
    if (!applied.includes(f)) applied.push(f);
  }
}

/** Set the flags of setV8Flags() again (after a worker thread has started: see above). */
export function reapplyV8Flags(): void {
  for (const f of applied) setFlagsFromString(f);
}
