#!/usr/bin/env node
// gen-command-docs.mjs [--check]
// Writes the synopsis/options part of docs/commands/<command>.md from the oclif command metadata
// (the same text `atomic COMMAND --help` prints, at OCLIF_COLUMNS=100), between the markers
//   <!-- BEGIN GENERATED: ... -->  and  <!-- END GENERATED -->
// Everything outside the markers is hand-written and kept. A missing page is created with empty
// hand-written sections to fill in. With --check, writes nothing and exits 1 if a page is stale.
// Run after `npm run build` (the metadata is read from dist/src/commands).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

process.env.OCLIF_COLUMNS = '100';
process.env.NO_COLOR = '1';
process.env.FORCE_COLOR = '0';
const { Config, Help } = await import('@oclif/core');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const docsDir = path.join(root, 'docs', 'commands');
const check = process.argv.includes('--check');
export const BEGIN = '<!-- BEGIN GENERATED: synopsis and options from `atomic COMMAND --help` (scripts/gen-command-docs.mjs); do not edit -->';
export const END = '<!-- END GENERATED -->';

// eslint-disable-next-line no-control-regex -- deliberate control-character match
const stripAnsi = (s) => s.replace(/\u001b\[[0-9;]*m/g, '');

const config = await Config.load(root);
const help = new Help(config, { stripAnsi: true });
// alias entries (`atomic unmount` = umount) are documented on their command's page
const aliasIds = new Set([...config.commands].flatMap((c) => (c.aliases ?? []).filter((a) => a !== c.id)));
const commands = [...config.commands].filter((c) => !c.hidden && !aliasIds.has(c.id)).sort((a, b) => a.id.localeCompare(b.id));
let stale = 0;
fs.mkdirSync(docsDir, { recursive: true });
for (const c of commands) {
  const display = c.id.split(':').join(' ');
  const file = path.join(docsDir, `${c.id.split(':').join('-')}.md`);
  const out = [];
  help.log = (...a) => out.push(a.join(' '));
  await help.showCommandHelp(c);
  const text = stripAnsi(out.join('\n')).replace(/[ \t]+$/gm, '').trimEnd();
  const block = `${BEGIN}\n\n\`\`\`text\n$ atomic ${display} --help\n${text}\n\`\`\`\n\n${END}`;
  let page;
  if (fs.existsSync(file)) {
    const old = fs.readFileSync(file, 'utf8');
    const b = old.indexOf(BEGIN);
    const e = old.indexOf(END);
    if (b < 0 || e < b) {
      console.error(`${path.relative(root, file)}: markers missing; add them where the generated part goes`);
      stale++;
      continue;
    }
    page = old.slice(0, b) + block + old.slice(e + END.length);
    if (page === old) continue;
  } else {
    page = `# atomic ${display}\n\n${c.summary ?? (c.description ?? '').split('\n')[0]}\n\n## Synopsis and options\n\n${block}\n\n## Examples\n\n## Exit codes\n\n## Files\n`;
  }
  stale++;
  if (check) console.error(`${path.relative(root, file)} is out of date`);
  else {
    fs.writeFileSync(file, page);
    console.log(`wrote ${path.relative(root, file)}`);
  }
}
if (check && stale) process.exit(1);
