/**
 * `atomic images list` (§1.6): the rows of atomic's JSON (`ImageListJson`), filtered. The command
 * (cli/list-runners.ts) prints them as atomic's table, ids or JSON.
 */
import type { AppContext } from '../context.js';
import type { ImageEntry } from '../../image/stored-image.js';
import { usedImageIds } from '../containers/deployments-scan.js';
import { convertSize, formatCreated, parseFilters } from '../../util/format.js';

export const IMAGE_FILTER_KEYS = ['repo', 'repository', 'tag', 'id', 'image', 'created', 'size', 'type', 'is_dangling'];

export interface ImageListOptions {
  all?: boolean;
  filters?: string[];
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

export interface ImageList {
  /** Every image, filtered or not (atomic sized the REPOSITORY and TAG columns from all of them). */
  all: ImageListJson[];
  /** The images the filters select. */
  rows: ImageListJson[];
}

export async function imagesList(ctx: AppContext, opts: ImageListOptions): Promise<ImageList> {
  const filters = parseFilters(opts.filters, IMAGE_FILTER_KEYS);
  const repo = await ctx.repoIfExists();
  // the catalog (and the image modules it loads) only when there is a store: start-up time on a fresh host
  let entries: ImageEntry[] = [];
  if (repo) {
    const cat = await import('../../image/stored-image.js');
    entries = await cat.listImages(repo, { all: opts.all, onBroken: cat.warnBrokenImage((m) => ctx.out.warn(m)) });
  }
  const used = await usedImageIds(ctx);
  const all: ImageListJson[] = entries.map((e) => ({
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
  const rows = all.filter((r) => filters.every(([k, v]) => filterValue(r, k).toLowerCase().includes(v.toLowerCase())));
  return { all, rows };
}
