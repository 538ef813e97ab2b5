/**
 * Base class of every command: the shared hidden/global flags and the app context.
 * Commands stay thin: parse, call one app function, print its result.
 */
import { Command, Flags, Interfaces, ux } from '@oclif/core';
import type { AppContext } from '../app/context.js';
import { contextFromFlags, checkStorage } from './command-context.js';
import { JSON_INDENT } from '../util/format.js';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    debug: Flags.boolean({ description: 'Show stack traces and error codes.', hidden: true, default: false }),
    sysroot: Flags.string({
      description: 'Operate on the system rooted at DIR (store, checkouts and /etc files below DIR).',
      helpValue: 'DIR',
      env: 'ATOMIC_SYSROOT',
    }),
  };

  protected makeContext(flags: { sysroot?: string; debug?: boolean }): AppContext {
    return contextFromFlags(flags);
  }

  /** Validate atomic's --storage flag: only the ostree backend exists in this implementation. */
  protected checkStorage(storage: string | undefined): void {
    checkStorage(storage);
  }

  /**
   * Read commands set `enableJsonFlag` and return their data from run(): with `--json`, oclif
   * prints that value (and swallows this.log), without it the command prints its lines. The
   * JSON is indented like atomic's `json.dumps(indent=4)` unless a command keeps another shape.
   */
  protected jsonIndent = JSON_INDENT;

  override logJson(json: unknown): void {
    ux.stdout(JSON.stringify(json, null, this.jsonIndent));
  }

  /** Let the process entry (cli/main.ts) print and map every error. */
  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    throw err;
  }
}

export const storageFlag = Flags.string({
  description: "Storage backend; only 'ostree' is supported (atomic's --storage).",
  options: ['ostree', 'docker'],
  default: 'ostree',
});
