#!/usr/bin/env node
// Entry point of the `atomic` CLI. Global options that atomic accepted before the
// subcommand (`atomic --debug images list`, `atomic -y images delete X`) are moved
// after it, so existing scripts keep working with oclif's parser.
//
// `npm run build` also bundles the CLI into a few files (dist/bundle, scripts/gen-bundle.mjs):
// loaded while it was built from the current dist/src/cli/main.js, else dist/src is loaded.
import { readFileSync, statSync } from 'node:fs';

let entry = '../dist/src/cli/main.js';
try {
  const b = JSON.parse(readFileSync(new URL('../dist/bundle/source.json', import.meta.url), 'utf8'));
  const st = statSync(new URL(entry, import.meta.url));
  if (st.size === b.size && st.mtimeMs === b.mtimeMs && process.env.ATOMIC_NO_BUNDLE !== '1') entry = '../dist/bundle/main.js';
} catch {
  // no bundle (or unreadable): the unbundled modules
}
const { main } = await import(entry);
await main(process.argv.slice(2), import.meta.url);
