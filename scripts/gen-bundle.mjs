#!/usr/bin/env node
// gen-bundle.mjs: bundles the compiled CLI entry (dist/src/cli/main.js) and every module it reaches,
// statically or through import(), into a few files under dist/bundle/ (esbuild, ESM, code splitting:
// each import() boundary stays a lazily loaded chunk). Node 20 has no module compile cache, and
// resolving, reading and linking each ES module costs ~0.5-1 ms: an install loads ~125 of our
// modules, `images list` ~15 (docs/benchmarks.md, "Start-up"). npm packages stay external (loaded
// from node_modules as before), and so do the oclif command files: the oclif path (any command or
// flag the fast path does not handle) runs the unbundled dist/src as before.
//
// `import.meta.url` inside a bundled module is rewritten to the URL of its original file in
// dist/src (relative to the chunk, so the package can move), because a few modules find files
// next to themselves (generated validators, schemas, the store's worker script).
//
// bin/run.js uses the bundle only while dist/bundle/source.json matches the size and mtime of
// dist/src/cli/main.js (tsc rewrites every output file on each build: after a bare `tsc` the bundle
// is stale and bin/run.js loads dist/src instead - slower, never wrong). Run by `npm run build`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'dist', 'src');
const out = path.join(root, 'dist', 'bundle');
const entry = path.join(src, 'cli', 'main.js');

const relocate = {
  name: 'relocate-import-meta',
  setup(build) {
    build.onLoad({ filter: /\.js$/ }, async (args) => {
      let text = await fs.promises.readFile(args.path, 'utf8');
      if (text.includes('import.meta.url')) {
        const rel = path.relative(out, args.path).split(path.sep).join('/');
        text = text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`);
      }
      return { contents: text, loader: 'js' };
    });
  },
};

fs.rmSync(out, { recursive: true, force: true });
const r = await esbuild.build({
  entryPoints: { main: entry },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  outdir: out,
  chunkNames: 'chunk-[hash]',
  plugins: [relocate],
  metafile: true,
  logLevel: 'warning',
  legalComments: 'none',
});
const st = fs.statSync(entry);
fs.writeFileSync(path.join(out, 'source.json'), JSON.stringify({ size: st.size, mtimeMs: st.mtimeMs }) + '\n');
const files = Object.keys(r.metafile.outputs).length;
const inputs = Object.keys(r.metafile.inputs).length;
console.log(`wrote dist/bundle (${inputs} modules in ${files} files)`);
