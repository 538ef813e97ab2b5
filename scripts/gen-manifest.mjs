#!/usr/bin/env node
// gen-manifest.mjs: writes oclif.manifest.json (what `oclif manifest` writes: every command's id,
// flags and args, cached so a call loads only its own command file) plus a fingerprint of the files
// it was made from (command files and other files importing oclif),
// so the CLI ignores a manifest that no longer matches the compiled code (src/cli/manifest.ts).
// Run by `npm run build` after tsc.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { distFingerprint, manifestSources, MANIFEST_FILE } = await import(path.join(root, 'dist', 'src', 'cli', 'manifest.js'));
const file = path.join(root, MANIFEST_FILE);
fs.rmSync(file, { force: true });
const plugin = new Plugin({ root, type: 'core', isRoot: true, ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true });
await plugin.load();
const files = manifestSources(root);
const manifest = { ...plugin.manifest, atomic: { fingerprint: distFingerprint(root, files), files } };
const tmp = `${file}.tmp`;
fs.writeFileSync(tmp, JSON.stringify(manifest, null, 2) + '\n');
fs.renameSync(tmp, file);
console.log(`wrote ${MANIFEST_FILE} (${Object.keys(manifest.commands).length} commands)`);
