/**
 * Bodies of `atomic images list` and `atomic containers list`, shared by their oclif commands and
 * the start-up fast path (cli/fast-path.ts), which runs them without loading oclif. The use cases
 * (app/images/list.ts, app/containers/list.ts) return rows; the presentation is here: atomic's
 * table, `-q` ids, and the data that `--json` prints (what the commands' run() returns).
 */
import { contextFromFlags, checkStorage } from './command-context.js';
import { row } from '../util/format.js';
import type { ImageList, ImageListJson } from '../app/images/list.js';
import type { ContainerRow } from '../app/containers/list.js';

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

/** `images list --json`: the selected rows without the `<none>` ones (atomic left those out). */
export function imagesListJson(list: ImageList): ImageListJson[] {
  return list.rows.filter((r) => r.repo !== '<none>');
}

/** atomic's display_all_image_info. */
export function imagesListLines(list: ImageList, flags: ListFlags): string[] {
  // the header is printed whenever there are images, even if the filter matches none
  if (list.all.length === 0) return [];
  const idOf = (id: string) => (flags['no-trunc'] ? id : id.slice(0, 12));
  if (flags.quiet) return list.rows.map((r) => idOf(r.id));
  // the REPOSITORY/TAG widths come from every image (filters only decide which rows print),
  // longest + 2, or 1 when no image has a name
  const named = list.all.filter((r) => r.repo !== '<none>');
  const rw = named.length ? Math.max(...named.map((r) => r.repo.length)) + 2 : 1;
  const tw = named.length ? Math.max(...named.map((r) => r.tag.length)) + 2 : 1;
  const iw = flags['no-trunc'] ? 65 : 14;
  const lines: string[] = [];
  if (!flags.noheading) {
    lines.push(
      row([
        [' ', 2],
        ['REPOSITORY', rw],
        ['TAG', tw],
        ['IMAGE ID', iw],
        ['CREATED', 18],
        ['VIRTUAL SIZE', 14],
        ['TYPE', 10],
      ]),
    );
  }
  for (const r of list.rows) {
    const ind = r.is_dangling ? '*' : r.used ? '>' : ' ';
    lines.push(
      row([
        [ind, 2],
        [r.repo, rw],
        [r.tag, tw],
        [idOf(r.id), iw],
        [r.created, 18],
        [r.virtual_size, 14],
        [r.backend, 10],
      ]),
    );
  }
  return lines;
}

/** atomic's ps_tty. */
export function containersListLines(rows: ContainerRow[], flags: ListFlags): string[] {
  if (rows.length === 0) return [];
  // truncated: ID 12, IMAGE 20, NAME 10, COMMAND 10; --no-trunc: the longest value (COMMAND at
  // least 10), no minimum from the header (it may overflow, as atomic's did). CREATED, STATE,
  // BACKEND and RUNTIME are always cut to 16/10/10/10.
  const t = !flags['no-trunc'];
  const cut = (s: string, n: number) => (t ? s.slice(0, n) : s);
  const longest = (f: (r: ContainerRow) => string) => Math.max(0, ...rows.map((r) => f(r).length));
  if (flags.quiet) return rows.map((r) => cut(r.id, 12));
  const idW = t ? 12 : longest((r) => r.id);
  const imgW = t ? 20 : longest((r) => r.image_name);
  const nameW = t ? 10 : longest((r) => r.name);
  const cmdW = t
    ? 10
    : Math.max(
        10,
        longest((r) => r.command),
      );
  const lines: string[] = [];
  if (!flags.noheading)
    lines.push(
      row([
        [' ', 2],
        ['CONTAINER ID', idW],
        ['IMAGE', imgW],
        ['NAME', nameW],
        ['COMMAND', cmdW],
        ['CREATED', 16],
        ['STATE', 10],
        ['BACKEND', 10],
        ['RUNTIME', 10],
      ]),
    );
  for (const r of rows) {
    lines.push(
      row([
        [' ', 2],
        [cut(r.id, idW), idW],
        [cut(r.image_name, imgW), imgW],
        [cut(r.name, nameW), nameW],
        [cut(r.command, cmdW), cmdW],
        [r.created.slice(0, 16), 16],
        [r.state.slice(0, 10), 10],
        [r.backend.slice(0, 10), 10],
        [r.runtime.slice(0, 10), 10],
      ]),
    );
  }
  return lines;
}

/** Prints the table (or ids) unless `--json`; returns what `--json` prints. */
export async function runImagesList(flags: ListFlags, log: LineSink): Promise<ImageListJson[]> {
  checkStorage(flags.storage);
  const ctx = contextFromFlags(flags);
  const { imagesList } = await import('../app/images/list.js');
  const list = await imagesList(ctx, { all: flags.all, filters: flags.filter });
  if (!flags.json) for (const l of imagesListLines(list, flags)) log(l);
  return imagesListJson(list);
}

/** Prints the table (or ids) unless `--json`; returns what `--json` prints. */
export async function runContainersList(flags: ListFlags, log: LineSink): Promise<ContainerRow[]> {
  const ctx = contextFromFlags(flags);
  const { containersList } = await import('../app/containers/list.js');
  const rows = await containersList(ctx, { all: flags.all, filters: flags.filter });
  if (!flags.json) for (const l of containersListLines(rows, flags)) log(l);
  return rows;
}
