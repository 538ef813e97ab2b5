/**
 * Reader for atomic's `/etc/atomic.conf` (YAML-style `key: value` lines; only the flat keys
 * atomic's system-container code reads are honoured: ostree_repository, checkout_path, runtime,
 * default_storage). Missing file = empty config.
 */
import * as fs from 'node:fs';

export type AtomicConf = Record<string, string>;

export function parseAtomicConf(text: string): AtomicConf {
  const conf: AtomicConf = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trimEnd();
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2].trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    if (v !== '') conf[m[1]] = v;
  }
  return conf;
}

export function readAtomicConf(file: string): AtomicConf {
  try {
    return parseAtomicConf(fs.readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
}
