/**
 * `/etc/containers/registries.conf` (containers-registries.conf(5)), the parts a pull needs:
 * `unqualified-search-registries` (the first entry is atomic's "default registry configured for
 * Skopeo"), `[[registry]]` tables with `location` / `prefix` / `insecure` / `blocked`, and the
 * version-1 tables `[registries.search]`, `[registries.insecure]`, `[registries.block]`.
 * Drop-ins in `registries.conf.d/*.conf` are read after the main file (later files win for
 * scalar keys, `[[registry]]` entries accumulate).
 *
 * The file is TOML; only the subset these keys use is parsed (util/toml.ts).
 * The path can be overridden with `$CONTAINERS_REGISTRIES_CONF` (as containers/image does).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AtomicError } from '../../util/errors.js';
import { parseTomlSubset, type TomlTable, type TomlValue } from '../../util/toml.js';

export const DEFAULT_REGISTRIES_CONF = '/etc/containers/registries.conf';
const MAX_CONF_BYTES = 1024 * 1024;

export interface RegistryEntry {
  /** The namespace the entry applies to (`prefix`, else `location`). */
  prefix: string;
  location: string;
  insecure: boolean;
  blocked: boolean;
}

export interface RegistriesConf {
  /** Files actually read (for messages). */
  files: string[];
  unqualifiedSearch: string[];
  registries: RegistryEntry[];
}

/** Parse the TOML subset described above; errors name the file and line. */
export function parseToml(text: string, file = 'registries.conf'): TomlTable {
  return parseTomlSubset(text, file, ['Fix the TOML syntax of the file (see containers-registries.conf(5)).']);
}

const strList = (v: TomlValue | undefined): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const isTable = (v: TomlValue | undefined): v is TomlTable => typeof v === 'object' && v !== null && !Array.isArray(v);

function readConf(file: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return null;
  }
  if (!st.isFile()) return null;
  if (st.size > MAX_CONF_BYTES) throw new AtomicError('USAGE', `${file} is too large (${st.size} bytes)`, { ref: file });
  return fs.readFileSync(file, 'utf8');
}

/** Load registries.conf (+ drop-ins). A missing file is an empty configuration. */
export function loadRegistriesConf(file = process.env.CONTAINERS_REGISTRIES_CONF || DEFAULT_REGISTRIES_CONF): RegistriesConf {
  const conf: RegistriesConf = { files: [], unqualifiedSearch: [], registries: [] };
  const files = [file];
  const dropDir = `${file}.d`;
  try {
    for (const f of fs.readdirSync(dropDir).filter((x) => x.endsWith('.conf')).sort()) files.push(path.join(dropDir, f));
  } catch {
    /* no drop-ins */
  }
  let sawSearch = false;
  for (const f of files) {
    const text = readConf(f);
    if (text === null) continue;
    conf.files.push(f);
    const t = parseToml(text, f);
    if (t['unqualified-search-registries'] !== undefined) {
      conf.unqualifiedSearch = strList(t['unqualified-search-registries']);
      sawSearch = true;
    }
    const v1 = t.registries;
    if (isTable(v1)) {
      const search = isTable(v1.search) ? strList(v1.search.registries) : [];
      if (!sawSearch && search.length) conf.unqualifiedSearch = search;
      for (const loc of isTable(v1.insecure) ? strList(v1.insecure.registries) : []) conf.registries.push({ prefix: loc, location: loc, insecure: true, blocked: false });
      for (const loc of isTable(v1.block) ? strList(v1.block.registries) : []) conf.registries.push({ prefix: loc, location: loc, insecure: false, blocked: true });
    }
    const regs = t.registry;
    if (Array.isArray(regs)) {
      for (const r of regs) {
        if (!isTable(r)) continue;
        const location = typeof r.location === 'string' ? r.location : '';
        const prefix = typeof r.prefix === 'string' && r.prefix !== '' ? r.prefix : location;
        if (prefix === '') continue;
        // A later entry for the same prefix replaces the earlier one (drop-ins override).
        conf.registries = conf.registries.filter((e) => e.prefix !== prefix);
        conf.registries.push({ prefix, location: location || prefix, insecure: r.insecure === true, blocked: r.blocked === true });
      }
    }
  }
  return conf;
}

/** The `[[registry]]` entry whose prefix matches `host/repo` longest (containers/image rules). */
export function findRegistryEntry(conf: RegistriesConf, hostAndRepo: string): RegistryEntry | undefined {
  let best: RegistryEntry | undefined;
  for (const e of conf.registries) {
    const p = e.prefix.replace(/\/+$/, '');
    const hit = p.startsWith('*.')
      ? hostAndRepo.split('/')[0]!.endsWith(p.slice(1))
      : hostAndRepo === p || hostAndRepo.startsWith(`${p}/`);
    if (hit && (!best || p.length > best.prefix.length)) best = e;
  }
  return best;
}
