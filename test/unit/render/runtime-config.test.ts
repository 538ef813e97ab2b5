import { strict as assert } from 'node:assert';
import { buildRuntimeConfig, assertConfigObject, type RuntimeConfigInput } from '../../../src/render/runtime-config.js';
import { isAtomicError } from '../../../src/util/errors.js';

const base = (over: Partial<RuntimeConfigInput>): RuntimeConfigInput => ({
  verbatim: null,
  template: null,
  templatePath: '/x/rootfs/exports/config.json.template',
  verbatimLabel: 'img: /exports/config.json',
  values: { NAME: 'web', PORT: '8080' },
  generateDefault: () => {
    throw new Error('the default must not be generated');
  },
  ...over,
});

describe('buildRuntimeConfig: the one config.json precedence (deployments and run-once)', () => {
  it('exports/config.json wins over the template and is kept byte for byte', () => {
    const verbatim = '{ "ociVersion":"1.0.2",\n  "hostname": "${NAME}" }\n';
    const r = buildRuntimeConfig(base({ verbatim, template: '{"hostname":"$NAME"}' }));
    assert.equal(r.source, 'verbatim');
    assert.equal(r.text, verbatim);
    assert.equal(r.config.hostname, '${NAME}'); // verbatim: no substitution
  });

  it('the template is rendered when there is no config.json; the default is not built', () => {
    const r = buildRuntimeConfig(base({ template: '{"ociVersion":"1.0.2","hostname":"$NAME","env":["PORT=$PORT"]}' }));
    assert.equal(r.source, 'template');
    assert.deepEqual(r.config, { ociVersion: '1.0.2', hostname: 'web', env: ['PORT=8080'] });
    assert.equal(r.text, JSON.stringify(r.config, null, 4) + '\n');
  });

  it('the generated default only when the image ships neither file', () => {
    let calls = 0;
    const r = buildRuntimeConfig(base({ generateDefault: () => (calls++, { ociVersion: '1.0.2', hostname: 'gen' }) }));
    assert.equal(calls, 1);
    assert.equal(r.source, 'default');
    assert.equal(r.config.hostname, 'gen');
  });

  it('invalid JSON in config.json names the file (IMAGE_INVALID), as atomic did', () => {
    assert.throws(
      () => buildRuntimeConfig(base({ verbatim: '{ nope' })),
      (e: unknown) => isAtomicError(e) && e.code === 'IMAGE_INVALID' && e.message === 'Invalid json in configuration file: img: /exports/config.json.',
    );
  });

  it('user mode adds the user namespace and mappings, and rewrites the text', () => {
    const verbatim = '{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"network"},{"type":"pid"}]}}';
    const r = buildRuntimeConfig(base({ verbatim, userNamespace: { uid: 1000, gid: 1001, subuid: { start: 100000, count: 65536 }, subgid: null } }));
    const linux = r.config.linux as { namespaces: { type: string }[]; uidMappings: unknown[]; gidMappings: unknown[] };
    assert.deepEqual(
      linux.namespaces.map((n) => n.type),
      ['pid', 'user'],
    );
    assert.deepEqual(linux.uidMappings[0], { containerID: 0, hostID: 1000, size: 1 });
    assert.deepEqual(linux.gidMappings[0], { containerID: 0, hostID: 1001, size: 1 });
    assert.notEqual(r.text, verbatim);
    assert.deepEqual(JSON.parse(r.text), r.config);
  });

  it('user mode refuses a config.json that is not an object, naming it (no TypeError)', () => {
    for (const verbatim of ['[]', '3', 'null']) {
      assert.throws(
        () => buildRuntimeConfig(base({ verbatim, userNamespace: { uid: 1000, gid: 1000, subuid: null, subgid: null } })),
        (e: unknown) => isAtomicError(e) && e.code === 'IMAGE_INVALID' && e.message.includes('img: /exports/config.json') && e.message.includes('JSON object'),
      );
    }
    assert.deepEqual(assertConfigObject({ a: 1 }, 'x'), { a: 1 });
  });
});
