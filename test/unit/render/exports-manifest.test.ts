import { strict as assert } from 'node:assert';
import { parseExportsManifest } from '../../../src/render/exports-manifest.js';
import { fixtureExports, helloWebExport } from './fixture-exports.js';
import { expectError } from '../../helpers/error-code.js';

const FILE = '/x/rootfs/exports/manifest.json';

describe('render/exports-manifest', () => {
  it('the systest fixture manifest', function () {
    this.timeout(120_000);
    const { manifest, warnings } = parseExportsManifest(fixtureExports('systest').get('manifest.json')!, FILE);
    assert.deepEqual(warnings, []);
    assert.equal(manifest.version, '1.0');
    assert.deepEqual(manifest.defaultValues, { RECEIVER: 'World', PORT: '8081' });
    assert.equal(manifest.noContainerService, false);
    assert.deepEqual(manifest.installedFilesTemplate, []);
    assert.deepEqual(manifest.renameFiles, {});
    assert.equal(manifest.useLinks, true);
  });
  it('the hello-web example manifest', () => {
    const { manifest } = parseExportsManifest(helloWebExport('manifest.json'), FILE);
    assert.deepEqual(manifest.defaultValues, { PORT: '8080', GREETING: 'Hello' });
  });
  it('all fields', () => {
    const { manifest, warnings } = parseExportsManifest(
      JSON.stringify({
        version: 2,
        defaultValues: { A: 'x', N: 8080, F: 1.5, B: false },
        noContainerService: true,
        installedFilesTemplate: ['/usr/local/lib/f'],
        renameFiles: { '/usr/local/lib/placeholder-file': '/usr/local/lib/renamed-$NAME' },
        useLinks: false,
      }),
      FILE,
    );
    assert.deepEqual(warnings, []);
    assert.equal(manifest.version, 2);
    assert.deepEqual(manifest.defaultValues, { A: 'x', N: '8080', F: '1.5', B: 'false' });
    assert.equal(manifest.noContainerService, true);
    assert.deepEqual(manifest.installedFilesTemplate, ['/usr/local/lib/f']);
    assert.deepEqual(manifest.renameFiles, { '/usr/local/lib/placeholder-file': '/usr/local/lib/renamed-$NAME' });
    assert.equal(manifest.useLinks, false);
  });
  it('an empty object gets the defaults', () => {
    const { manifest } = parseExportsManifest('{}', FILE);
    assert.deepEqual({ ...manifest, raw: undefined }, { version: null, defaultValues: {}, noContainerService: false, installedFilesTemplate: [], renameFiles: {}, useLinks: true, raw: undefined });
  });
  it('unknown top-level keys and unusable defaultValues names are warnings', () => {
    const { manifest, warnings } = parseExportsManifest('{"foo": 1, "defaultValues": {"my-var": "x"}, "Version": "1"}', FILE);
    assert.equal(warnings.length, 3);
    assert.ok(warnings.some((w) => w.includes('"foo"') && w.includes(FILE)));
    assert.ok(warnings.some((w) => w.includes('"Version"')));
    assert.ok(warnings.some((w) => w.includes('"my-var"')));
    assert.equal(manifest.raw.foo, 1);
  });

  const invalidJson = ['', '{', '{"a": 1,}', "{'a': 1}"];
  for (const text of invalidJson) {
    it(`invalid JSON ${JSON.stringify(text)} → atomic's message`, () => {
      expectError(() => parseExportsManifest(text, FILE, 'oci:systest'), 'IMAGE_INVALID', 'Invalid manifest.json file in image: oci:systest.', FILE);
      expectError(() => parseExportsManifest(text, FILE), 'IMAGE_INVALID', `Invalid manifest.json file in image: ${FILE}.`);
    });
  }

  it('schema problems: one SCHEMA_INVALID error listing each (path + message)', () => {
    const text = JSON.stringify({
      noContainerService: 'yes',
      installedFilesTemplate: ['/ok', 1],
      renameFiles: { '/a': 1 },
      defaultValues: { A: null, B: [1] },
      useLinks: 0,
    });
    expectError(
      () => parseExportsManifest(text, FILE),
      'SCHEMA_INVALID',
      FILE,
      '/noContainerService: must be boolean',
      '/installedFilesTemplate/1: must be string',
      '/renameFiles/~1a: must be string',
      '/defaultValues/A: must be string,number,boolean',
      '/defaultValues/B: must be string,number,boolean',
      '/useLinks: must be boolean',
    );
  });
  const notObjects = ['[]', '"x"', '1', 'null'];
  for (const text of notObjects) {
    it(`top level ${text} → SCHEMA_INVALID`, () => {
      expectError(() => parseExportsManifest(text, FILE), 'SCHEMA_INVALID', FILE, '/: must be object');
    });
  }
});
