/**
 * Validators compiled at build time (scripts/gen-validators.mjs → dist/src/generated/*.cjs) are
 * used only when they were generated from exactly the schemas on disk, and answer exactly like a
 * validator compiled now by ajv: same verdict, same error objects, on the official runtime-spec
 * test corpus and on our own bad inputs.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import { compileSchemaSet, schemaSetHash, validatorFor, validatorForFiles, filesStamp, loadGenerated, codeCacheRejected, GENERATED_DIR } from '../../../src/render/schema-validators.js';
import { runtimeSpecSchemaSet, runtimeSpecSchemaDir, runtimeSpecSchemaFiles } from '../../../src/render/config-json.js';
import { exportsManifestSchemaSet } from '../../../src/render/exports-manifest.js';
import { optionsSchemaSet } from '../../../src/render/options.js';
import { PROJECT_ROOT, SHARED } from '../../helpers/fixtures.js';

const require = createRequire(import.meta.url);

describe('schema validators compiled at build time', function () {
  this.timeout(120_000);
  before(() => {
    // the build generates them; regenerate in case only tsc ran since
    execFileSync(process.execPath, [path.join(PROJECT_ROOT, 'scripts', 'gen-validators.mjs')], { stdio: 'ignore' });
  });

  const sets = () => [runtimeSpecSchemaSet(runtimeSpecSchemaDir()), exportsManifestSchemaSet()];

  it('the generated modules match the shipped schemas and are the ones used', () => {
    for (const set of sets()) {
      const gen = require(path.join(GENERATED_DIR, `${set.key}.cjs`)) as { hash: string; validate: unknown };
      assert.equal(gen.hash, schemaSetHash(set), set.key);
      assert.equal(validatorFor(set), loadGenerated(set.key).validate, `${set.key}: the precompiled validator is used`);
      assert.equal(loadGenerated(set.key).hash, gen.hash);
      // the build's V8 code cache is accepted by this node (else every install compiles the module)
      assert.equal(codeCacheRejected(set.key), false, `${set.key}: code cache accepted`);
    }
  });

  it('the generated modules carry the stamp of their schema files: used without reading them while it matches', () => {
    for (const set of [...sets(), optionsSchemaSet()]) {
      const gen = loadGenerated(set.key);
      assert.ok(set.files && set.files.length > 0, `${set.key}: the set names its files`);
      assert.equal(gen.stamp, filesStamp(set.files), `${set.key}: stamp of the shipped files`);
      assert.equal(
        validatorForFiles(set.key, set.files, () => assert.fail(`${set.key}: the schemas were read although the stamp matches`)),
        gen.validate,
      );
    }
    assert.deepEqual(runtimeSpecSchemaSet(runtimeSpecSchemaDir()).files, runtimeSpecSchemaFiles(runtimeSpecSchemaDir()));
  });

  it('schema files other than the stamped ones are read and hashed: a copy uses the generated module, an edited copy is compiled', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-schemas-'));
    try {
      const same = path.join(tmp, 'same');
      const edited = path.join(tmp, 'edited');
      fs.cpSync(runtimeSpecSchemaDir(), same, { recursive: true });
      fs.cpSync(runtimeSpecSchemaDir(), edited, { recursive: true });
      const key = runtimeSpecSchemaSet(same).key;
      const gen = loadGenerated(key);
      let built = 0;
      const vSame = validatorForFiles(key, runtimeSpecSchemaFiles(same), () => (built++, runtimeSpecSchemaSet(same)));
      assert.equal(built, 1, 'another directory: not trusted by its stamp');
      assert.equal(vSame, gen.validate, 'same content: the generated validator (hash match)');
      // ociVersion must now be a number: an edit the generated validator does not know
      const f = path.join(edited, 'config-schema.json');
      const doc = JSON.parse(fs.readFileSync(f, 'utf8')) as { properties: Record<string, unknown> };
      doc.properties.ociVersion = { type: 'number' };
      fs.writeFileSync(f, JSON.stringify(doc));
      const vEdited = validatorForFiles(key, runtimeSpecSchemaFiles(edited), () => runtimeSpecSchemaSet(edited))!;
      assert.notEqual(vEdited, gen.validate);
      assert.equal(vEdited({ ociVersion: '1.0.2' }), false);
      assert.equal((gen.validate as (d: unknown) => boolean)({ ociVersion: '1.0.2' }), true);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a changed schema is not validated with a stale generated module', () => {
    const set = exportsManifestSchemaSet();
    const changed = { ...set, schemas: [{ ...set.schemas[0], required: ['mustHave'] }] };
    const gen = require(path.join(GENERATED_DIR, `${set.key}.cjs`)) as { validate: unknown };
    const v = validatorFor(changed);
    assert.notEqual(v, gen.validate);
    assert.equal(v!({}), false);
  });

  it('same verdicts and errors as ajv compiling now (runtime-spec corpus, hostile configs, exports manifests)', () => {
    const rt = runtimeSpecSchemaSet(runtimeSpecSchemaDir());
    const pre = validatorFor(rt)!;
    const now = compileSchemaSet(rt).validate!;
    assert.notEqual(pre, now);
    const inputs: unknown[] = [{}, [], 'x', null, { ociVersion: 1 }, { ociVersion: '1.0.2', process: { args: 'sh', cwd: 3, user: { uid: -1 } } }, { mounts: [{ destination: 5 }], linux: { namespaces: [{ type: 'bogus' }] } }];
    const tests = path.join(SHARED, 'oci-schemas', 'runtime-spec', 'test');
    for (const d of ['good', 'bad']) {
      const dir = path.join(tests, d);
      if (!fs.existsSync(dir)) continue;
      for (const f of fs.readdirSync(dir)) {
        try {
          inputs.push(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
        } catch {
          /* invalid-json.json */
        }
      }
    }
    const ex = exportsManifestSchemaSet();
    const preEx = validatorFor(ex)!;
    const nowEx = compileSchemaSet(ex).validate!;
    const manifests: unknown[] = [{}, { defaultValues: { A: 1, B: true } }, { defaultValues: [] }, { installedFilesTemplate: 'x' }, { useLinks: 'yes', renameFiles: { a: 1 } }, 3];
    let bad = 0;
    for (const [p, n, list] of [[pre, now, inputs], [preEx, nowEx, manifests]] as const) {
      for (const i of list) {
        const a = p(i);
        const b = n(i);
        assert.equal(a, b, JSON.stringify(i).slice(0, 200));
        assert.deepEqual(p.errors, n.errors, JSON.stringify(i).slice(0, 200));
        if (!a) bad++;
      }
    }
    assert.ok(bad >= 8, `the inputs include invalid ones (${bad})`);
  });
});
