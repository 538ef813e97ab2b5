/**
 * Bodies of `atomic images list` and `atomic containers list`, shared by their oclif commands and
 * the start-up fast path (cli/fast-path.ts), which runs them without loading oclif.
 */
import { contextFromFlags, checkStorage } from './command-context.js';

export interface ListFlags {
  all?: boolean;
  filter?: string[];
  noheading?: boolean;
  'no-trunc'?: boolean;
  quiet?: boolean;
  json?: boolean;
  storage?: string;
  sysroot?: string;
  debug?: boolean;
}

export type LineSink = (line: string) => void;

export async function runImagesList(flags: ListFlags, log: LineSink): Promise<void> {
  checkStorage(flags.storage);
  const ctx = contextFromFlags(flags);
  const { imagesList } = await import('../app/images/list.js');
  const r = await imagesList(ctx, { all: flags.all, filters: flags.filter, noHeading: flags.noheading, noTrunc: flags['no-trunc'], quiet: flags.quiet, json: flags.json });
  for (const l of r.lines) log(l);
}

export async function runContainersList(flags: ListFlags, log: LineSink): Promise<void> {
  const ctx = contextFromFlags(flags);
  const { containersList } = await import('../app/containers/list.js');
  const r = await containersList(ctx, { all: flags.all, filters: flags.filter, noHeading: flags.noheading, noTrunc: flags['no-trunc'], quiet: flags.quiet, json: flags.json });
  for (const l of r.lines) log(l);
}
