/** `atomic images list`: rows and JSON exactly as atomic printed them (§1.6). */
import type { AppContext } from '../context.js';
import type { ImageEntry } from '../../image/stored-image.js';
import { usedImageIds } from '../containers/deployments-scan.js';
import { convertSize, formatCreated, parseFilters, row } from '../../util/format.js';

export const IMAGE_FILTER_KEYS = ['repo', 'repository', 'tag', 'id', 'image', 'created', 'size', 'type', 'is_dangling'];

export interface ImageListOptions {
  all?: boolean;
  filters?: string[];
  noHeading?: boolean;
  noTrunc?: boolean;
  quiet?: boolean;
  json?: boolean;
}

export interface ImageListJson {
  repo: string;
  tag: string;
  is_dangling: boolean;
  used: boolean;
  vulnerable: boolean;
  id: string;
  type: string;
  created: string;
  virtual_size: string;
  backend: string;
  vuln_info: Record<string, never>;
}

function filterValue(e: ImageListJson, key: string): string {
  switch (key) {
    case 'repo':
    case 'repository':
      return e.repo;
    case 'tag':
      return e.tag;
    case 'id':
    case 'image':
      return e.id;
    case 'created':
      return e.created;
    case 'size':
      return e.virtual_size;
    case 'type':
      return e.backend;
    case 'is_dangling':
      return String(e.is_dangling);
    default:
      return '';
  }
}

export async function imagesList(ctx: AppContext, opts: ImageListOptions): Promise<{ lines: string[]; json: ImageListJson[] }> {
  const filters = parseFilters(opts.filters, IMAGE_FILTER_KEYS);
  const repo = await ctx.repoIfExists();
  // the catalog (and the image modules it loads) only when there is a store: start-up time on a fresh host
  let entries: ImageEntry[] = [];
  if (repo) {
    const cat = await import('../../image/stored-image.js');
    entries = await cat.listImages(repo, { all: opts.all, onBroken: cat.warnBrokenImage((m) => ctx.out.warn(m)) });
  }
  const used = await usedImageIds(ctx);
  let rows: ImageListJson[] = entries.map((e) => ({
    repo: e.repo,
    tag: e.tag,
    is_dangling: false,
    used: used.has(e.id) || used.has(e.name),
    vulnerable: false,
    id: e.id,
    type: 'image',
    created: formatCreated(e.created),
    virtual_size: e.virtualSize === null ? '' : convertSize(e.virtualSize),
    backend: 'ostree',
    vuln_info: {},
  }));
  // atomic's display_all_image_info: the REPOSITORY/TAG widths come from every image (filters
  // only decide which rows print), longest + 2, or 1 when no image has a name; the header is
  // printed whenever there are images, even if the filter matches none
  const named = rows.filter((r) => r.repo !== '<none>');
  const rw = named.length ? Math.max(...named.map((r) => r.repo.length)) + 2 : 1;
  const tw = named.length ? Math.max(...named.map((r) => r.tag.length)) + 2 : 1;
  const any = rows.length > 0;
  rows = rows.filter((r) => filters.every(([k, v]) => filterValue(r, k).toLowerCase().includes(v.toLowerCase())));
  if (opts.json) return { lines: [JSON.stringify(rows.filter((r) => r.repo !== '<none>'), null, 4)], json: rows };
  if (!any) return { lines: [], json: rows };
  const idOf = (id: string) => (opts.noTrunc ? id : id.slice(0, 12));
  if (opts.quiet) return { lines: rows.map((r) => idOf(r.id)), json: rows };
  const iw = opts.noTrunc ? 65 : 14;
  const lines: string[] = [];
  if (!opts.noHeading) {
    lines.push(row([[' ', 2], ['REPOSITORY', rw], ['TAG', tw], ['IMAGE ID', iw], ['CREATED', 18], ['VIRTUAL SIZE', 14], ['TYPE', 10]]));
  }
  for (const r of rows) {
    const ind = r.is_dangling ? '*' : r.used ? '>' : ' ';
    lines.push(row([[ind, 2], [r.repo, rw], [r.tag, tw], [idOf(r.id), iw], [r.created, 18], [r.virtual_size, 14], [r.backend, 10]]));
  }
  return { lines, json: rows };
}
