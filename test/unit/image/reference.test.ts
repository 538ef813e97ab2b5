import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeReference, parseImageReference, stripTransport } from '../../../src/image/reference.js';
import { openImageSource } from '../../../src/image/transports.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { codeOf } from '../../helpers/error-code.js';
import { makeTempDir } from '../../helpers/fixtures.js';

describe('image/reference', () => {
  let dir: string;
  let layout: string;
  let colonLayout: string;
  let tarFile: string;
  before(() => {
    dir = makeTempDir('atomic-ref-');
    layout = path.join(dir, 'layout');
    fs.mkdirSync(layout);
    colonLayout = path.join(dir, 'we:ird');
    fs.mkdirSync(colonLayout);
    tarFile = path.join(dir, 'img.tar');
    fs.writeFileSync(tarFile, '');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('oci:DIR and oci:DIR:TAG', () => {
    assert.deepEqual(parseImageReference(`oci:${layout}`), { transport: 'oci', path: layout, tag: undefined, raw: `oci:${layout}` });
    const r = parseImageReference(`oci:${layout}:systest`);
    assert.equal(r.transport, 'oci');
    assert.equal((r as { tag?: string }).tag, 'systest');
    assert.equal(describeReference(r), `oci:${layout}:systest`);
  });
  it('oci: with a colon in the directory name', () => {
    const r = parseImageReference(`oci:${colonLayout}:t1`);
    assert.deepEqual([r.transport, (r as { path: string }).path, (r as { tag?: string }).tag], ['oci', colonLayout, 't1']);
    const r2 = parseImageReference(`oci:${colonLayout}`);
    assert.equal((r2 as { tag?: string }).tag, undefined);
  });
  it('oci: relative paths resolve from cwd', () => {
    const r = parseImageReference('oci:./layout:x', { cwd: dir });
    assert.equal((r as { path: string }).path, layout);
  });
  it('oci:NAME that is not a directory is a registry name', () => {
    const r = parseImageReference('oci:busybox');
    assert.deepEqual(r, { transport: 'registry', name: 'busybox:latest', digest: undefined, insecure: false, raw: 'oci:busybox' });
  });
  it('oci:/missing/path → IMAGE_NOT_FOUND', async () => {
    assert.equal(await codeOf(() => parseImageReference(`oci:${dir}/nope:tag`)), 'IMAGE_NOT_FOUND');
  });
  it('dockertar:/ + absolute path (atomic form)', () => {
    const r = parseImageReference(`dockertar:/${tarFile}`);
    assert.equal(r.transport, 'docker-archive');
    assert.equal((r as { path: string }).path, tarFile);
    assert.equal((r as { form: string }).form, 'dockertar');
    assert.equal(describeReference(r), `dockertar:/${tarFile}`);
    assert.ok(describeReference(r).startsWith('dockertar://'));
  });
  it('dockertar:/relative is relative to cwd (as in atomic)', () => {
    const r = parseImageReference('dockertar:/img.tar', { cwd: dir });
    assert.equal((r as { path: string }).path, tarFile);
  });
  it('dockertar errors', async () => {
    assert.equal(await codeOf(() => parseImageReference(`dockertar:/${dir}/missing.tar`)), 'IMAGE_NOT_FOUND');
    assert.equal(await codeOf(() => parseImageReference('dockertar:x.tar')), 'USAGE');
    assert.equal(await codeOf(() => parseImageReference(`dockertar:/${dir}`)), 'IMAGE_INVALID');
  });
  it('docker-archive:PATH[:NAME:TAG]', () => {
    const r = parseImageReference(`docker-archive:${tarFile}`);
    assert.deepEqual([r.transport, (r as { image?: string }).image], ['docker-archive', undefined]);
    const r2 = parseImageReference(`docker-archive:${tarFile}:localhost/systest:1.0`);
    assert.deepEqual([(r2 as { path: string }).path, (r2 as { image?: string }).image], [tarFile, 'localhost/systest:1.0']);
  });
  it('docker-archive with a missing file → IMAGE_NOT_FOUND', async () => {
    assert.equal(await codeOf(() => parseImageReference(`docker-archive:${dir}/none.tar:a:b`)), 'IMAGE_NOT_FOUND');
  });
  it('oci-archive:PATH[:TAG]', async () => {
    const r = parseImageReference(`oci-archive:${tarFile}:systest`);
    assert.deepEqual([r.transport, (r as { path: string }).path, (r as { tag?: string }).tag], ['oci-archive', tarFile, 'systest']);
    assert.equal(await codeOf(() => parseImageReference(`oci-archive:${dir}/x.tar`)), 'IMAGE_NOT_FOUND');
  });
  it('registry forms', () => {
    const cases: Array<[string, string, boolean]> = [
      ['docker://busybox', 'busybox:latest', false],
      ['http:reg.local:5000/app:1', 'reg.local:5000/app:1', true],
      ['https:reg.local/app', 'reg.local/app:latest', false],
      ['https://reg.local/app', 'reg.local/app:latest', false],
      ['registry.fedoraproject.org/f27/etcd:27', 'registry.fedoraproject.org/f27/etcd:27', false],
      ['busybox', 'busybox:latest', false],
    ];
    for (const [raw, name, insecure] of cases) {
      const r = parseImageReference(raw);
      assert.equal(r.transport, 'registry', raw);
      assert.equal((r as { name: string }).name, name, raw);
      assert.equal((r as { insecure: boolean }).insecure, insecure, raw);
    }
  });
  it('docker:NAME:TAG is the docker daemon', () => {
    const r = parseImageReference('docker:busybox:1.0');
    assert.deepEqual([r.transport, (r as { name: string }).name], ['docker-daemon', 'busybox:1.0']);
  });
  it('the daemon is read through the docker/podman CLI (a missing one is NOT_FOUND); registry forms open registry sources (no network until used)', async () => {
    let err: unknown;
    const cli = process.env.ATOMIC_DOCKER_CLI;
    process.env.ATOMIC_DOCKER_CLI = '/nonexistent/podman';
    try {
      await openImageSource('docker:busybox:1').catch((e) => (err = e));
    } finally {
      if (cli === undefined) delete process.env.ATOMIC_DOCKER_CLI;
      else process.env.ATOMIC_DOCKER_CLI = cli;
    }
    assert.ok(isAtomicError(err));
    assert.equal(err.code, 'NOT_FOUND');
    const saved = process.env.CONTAINERS_REGISTRIES_CONF;
    process.env.CONTAINERS_REGISTRIES_CONF = '/nonexistent/registries.conf';
    try {
      for (const [raw, desc] of [
        ['docker://reg.example.com/x', 'docker://reg.example.com/x:latest'],
        ['http:reg.example.com/x:1', 'docker://reg.example.com/x:1'],
        ['https:reg.example.com:5000/x', 'docker://reg.example.com:5000/x:latest'],
        ['oci:reg.example.com/busybox', 'docker://reg.example.com/busybox:latest'],
      ] as const) {
        const src = await openImageSource(raw);
        assert.equal(src.description, desc, raw);
        await src.close();
      }
      // Unqualified names need a default registry (unqualified-search-registries).
      for (const raw of ['busybox', 'docker://busybox', 'oci:busybox']) {
        const warnings: string[] = [];
        let e: unknown;
        await openImageSource(raw, { onWarning: (w) => warnings.push(w) }).catch((x) => (e = x));
        assert.ok(isAtomicError(e), raw);
        assert.equal(e.code, 'USAGE', raw);
        assert.match(e.message, /not fully qualified and no default registry/);
        assert.deepEqual(warnings, ['The image `busybox` is not fully qualified.  The default registry configured for Skopeo will be used.']);
      }
    } finally {
      if (saved === undefined) delete process.env.CONTAINERS_REGISTRIES_CONF;
      else process.env.CONTAINERS_REGISTRIES_CONF = saved;
    }
  });
  it('usage errors', async () => {
    for (const raw of ['', 'a\nb', 'oci:', 'oci-archive:', 'docker-archive:', './relative/path', '/abs/path', 'a b']) {
      assert.equal(await codeOf(() => parseImageReference(raw)), 'USAGE', JSON.stringify(raw));
    }
    assert.equal(await codeOf(() => parseImageReference('ostree:remote:branch')), 'NOT_SUPPORTED');
  });
});

describe('image/reference stripTransport', () => {
  const cases: Array<[string, boolean, string]> = [
    ['oci:busybox:latest', false, 'busybox:latest'],
    ['http:localhost:5000/app:1', false, 'localhost:5000/app:1'],
    ['https:quay.io/a/b', false, 'quay.io/a/b'],
    ['docker://quay.io/a/b', false, 'docker://quay.io/a/b'],
    ['docker://quay.io/a/b', true, 'quay.io/a/b'],
    ['oci-archive:/x.tar', true, 'oci-archive:/x.tar'],
    ['dockertar:/x.tar', true, 'dockertar:/x.tar'],
    ['busybox', true, 'busybox'],
    ['oci:oci:x', false, 'oci:x'],
  ];
  for (const [raw, docker, want] of cases) {
    it(`${raw}${docker ? ' (docker:// too)' : ''} → ${want}`, () => assert.equal(stripTransport(raw, { docker }), want));
  }
  it('urls: also docker:// and http(s):// (label install of a stored image)', () => {
    assert.equal(stripTransport('https://quay.io/a/b', { urls: true }), 'quay.io/a/b');
    assert.equal(stripTransport('docker://quay.io/a/b', { urls: true }), 'quay.io/a/b');
    assert.equal(stripTransport('oci:busybox', { urls: true }), 'busybox');
    assert.equal(stripTransport('dockertar:/x.tar', { urls: true }), 'dockertar:/x.tar');
  });
  it("label: atomic's label-name rule (docker:, oci:, ostree:, each with an optional //)", () => {
    for (const raw of ['docker:x/y', 'docker://x/y', 'oci:x/y', 'ostree://x/y', 'ostree:x/y']) assert.equal(stripTransport(raw, { label: true }), 'x/y', raw);
    assert.equal(stripTransport('http:x/y', { label: true }), 'http:x/y');
  });
});
