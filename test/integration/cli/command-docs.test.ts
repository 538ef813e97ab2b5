/**
 * docs/commands/*.md: one page per command, whose generated part (scripts/gen-command-docs.mjs)
 * is exactly what `atomic COMMAND --help` prints, so the pages and --help cannot drift apart.
 * Regenerate with: npm run build && node scripts/gen-command-docs.mjs
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, PROJECT_ROOT } from '../../helpers/fixtures.js';

const DOCS = path.join(PROJECT_ROOT, 'docs', 'commands');
const BEGIN = '<!-- BEGIN GENERATED:';
const END = '<!-- END GENERATED -->';

/** Command ids from the compiled command files (dist/src/commands/a/b.js → "a b"), hidden ones included. */
function commandIds(): string[] {
  const dir = path.join(PROJECT_ROOT, 'dist', 'src', 'commands');
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (e.name.endsWith('.js')) out.push(r.slice(0, -3).split('/').join(' '));
    }
  };
  walk('');
  return out.sort();
}

function helpOf(id: string): string {
  const r = spawnSync(process.execPath, [BIN, ...id.split(' '), '--help'], {
    encoding: 'utf8',
    env: { ...process.env, OCLIF_COLUMNS: '100', NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  assert.equal(r.status, 0, r.stderr);
  // eslint-disable-next-line no-control-regex -- deliberate control-character match
  return r.stdout.replace(/\u001b\[[0-9;]*m/g, '').replace(/[ \t]+$/gm, '').trimEnd();
}

describe('docs/commands pages match --help', function () {
  this.timeout(120_000);
  const ids = commandIds();

  it('every command has a page with a generated part and the hand-written sections', () => {
    for (const id of ids) {
      const f = path.join(DOCS, `${id.split(' ').join('-')}.md`);
      assert.ok(fs.existsSync(f), `missing ${path.relative(PROJECT_ROOT, f)}: run node scripts/gen-command-docs.mjs`);
      const t = fs.readFileSync(f, 'utf8');
      assert.ok(t.includes(BEGIN) && t.includes(END), `${f}: generated markers`);
      for (const h of ['## Exit codes', '## Files']) assert.ok(t.includes(h), `${f}: section ${h}`);
    }
  });

  for (const id of ids) {
    it(`atomic ${id} --help`, function () {
      const f = path.join(DOCS, `${id.split(' ').join('-')}.md`);
      assert.ok(fs.existsSync(f), `missing ${path.relative(PROJECT_ROOT, f)}: run node scripts/gen-command-docs.mjs`);
      const t = fs.readFileSync(f, 'utf8');
      const gen = t.slice(t.indexOf(BEGIN), t.indexOf(END));
      const m = /```text\n\$ atomic (.+) --help\n([\s\S]*?)\n```/.exec(gen);
      assert.ok(m, `${f}: no help block`);
      assert.equal(m[1], id);
      assert.equal(m[2], helpOf(id), `${f} is stale: run npm run build && node scripts/gen-command-docs.mjs`);
    });
  }
});
