import { strict as assert } from 'node:assert';
import {
  decodeRefName, defaultSystemName, encodeRefName, normalizeImageName,
  parseImageName, tryDecodeRefName, validateImageName,
} from '../../../src/image/name.js';
import { code } from '../../helpers/error-code.js';

describe('image/name', () => {
  describe('encodeRefName / decodeRefName', () => {
    const table: Array<[string, string]> = [
      ['busybox:latest', 'busybox_3Alatest'],
      ['docker.io/busybox:latest', 'docker.io_2Fbusybox_3Alatest'],
      ['atomic-test-system:latest', 'atomic-test-system_3Alatest'],
      ['registry.fedoraproject.org/f27/kubernetes-apiserver:latest', 'registry.fedoraproject.org_2Ff27_2Fkubernetes-apiserver_3Alatest'],
      ['a_b', 'a_5Fb'],
      ['x@y', 'x_40y'],
      ['localhost:5000/app:1.0', 'localhost_3A5000_2Fapp_3A1.0'],
      ['Ab.9-', 'Ab.9-'],
      ['é', '_C3_A9'],
      ['€', '_E2_82_AC'],
      [' ', '_20'],
    ];
    for (const [plain, enc] of table) {
      it(`${JSON.stringify(plain)} <-> ${enc}`, () => {
        assert.equal(encodeRefName(plain), enc);
        assert.equal(decodeRefName(enc), plain);
      });
    }
    it('encoded names only use [A-Za-z0-9._-]', () => {
      assert.match(encodeRefName('a/b:c_d@e+f~g\u0001'), /^[A-Za-z0-9._-]+$/);
    });
    it('refuses invalid encodings', () => {
      for (const bad of ['a_3', 'a_ZZ', 'a/b', 'a:b', '_C3', 'x_']) {
        assert.equal(tryDecodeRefName(bad), null, bad);
        assert.equal(code(() => decodeRefName(bad)), 'USAGE');
      }
    });
    it('accepts lowercase hex escapes when decoding', () => {
      assert.equal(decodeRefName('a_3ab'), 'a:b');
    });
  });

  describe('normalization', () => {
    const table: Array<[string, string, string, string]> = [
      // input, full, registry, tag
      ['busybox', 'busybox:latest', '', 'latest'],
      ['busybox:1.36', 'busybox:1.36', '', '1.36'],
      ['localhost:5000/app', 'localhost:5000/app:latest', 'localhost:5000', 'latest'],
      ['localhost:5000/app:2', 'localhost:5000/app:2', 'localhost:5000', '2'],
      ['oci:registry.example.com/x/y:3', 'registry.example.com/x/y:3', 'registry.example.com', '3'],
      ['http:reg.local/a', 'reg.local/a:latest', 'reg.local', 'latest'],
      ['https://reg.local/a:b', 'reg.local/a:b', 'reg.local', 'b'],
      ['docker.io/busybox', 'docker.io/busybox:latest', 'docker.io', 'latest'],
      ['f27/etcd', 'f27/etcd:latest', '', 'latest'],
      ['app@sha256:' + 'b'.repeat(64), 'app:latest', '', 'latest'],
      ['app:1@sha256:' + 'b'.repeat(64), 'app:1', '', '1'],
      ['my-oci:thing', 'my-oci:thing', '', 'thing'],
    ];
    for (const [input, full, registry, tag] of table) {
      it(`${input} → ${full}`, () => {
        const p = parseImageName(input);
        assert.equal(p.full, full);
        assert.equal(p.registry, registry);
        assert.equal(p.tag, tag);
        assert.equal(normalizeImageName(input), full);
      });
    }
    it('prefixes are dropped only at the start', () => {
      assert.equal(normalizeImageName('reg.io/oci:x'), 'reg.io/oci:x');
      assert.equal(normalizeImageName('oci:oci:x'), 'oci:x');
    });
    it('keeps the digest separately', () => {
      assert.equal(parseImageName('a@sha256:' + 'c'.repeat(64)).digest, 'sha256:' + 'c'.repeat(64));
    });
    it('refuses bad tags and digests', () => {
      assert.equal(code(() => parseImageName('a:b/c:')), 'USAGE');
      assert.equal(code(() => parseImageName('a:-x')), 'USAGE');
      assert.equal(code(() => parseImageName('a@notadigest')), 'USAGE');
      assert.equal(code(() => parseImageName(':tag')), 'USAGE');
    });
  });

  describe('defaultSystemName (§1.1)', () => {
    const table: Array<[string, string]> = [
      ['registry.fedoraproject.org/f27/etcd:27', 'etcd-27'],
      ['busybox', 'busybox'],
      ['busybox:latest', 'busybox'],
      ['oci:busybox:1.0', 'busybox-1.0'],
      ['docker:busybox:1.0', 'busybox-1.0'],
      ['localhost/systest:1.0', 'systest-1.0'],
      ['localhost:5000/a/b/c', 'c'],
      ['etcd@sha256:' + 'd'.repeat(64), 'etcd'],
      ['systest:latest', 'systest'],
    ];
    for (const [img, name] of table) it(`${img} → ${name}`, () => assert.equal(defaultSystemName(img), name));
  });

  describe('validation', () => {
    const bad = ['', 'a\nb', 'a\0b', 'a b', '../x', 'a/../b', 'a/./b', '/abs', 'a//b', 'a/', 'x'.repeat(256), 'tab\there', 'del\u007f'];
    for (const b of bad) it(`refuses image name ${JSON.stringify(b.slice(0, 20))}`, () => assert.equal(code(() => validateImageName(b)), 'USAGE'));
    it('accepts ordinary names', () => {
      for (const g of ['busybox', 'reg.io:5000/a/b:1.0', 'x'.repeat(255)]) assert.equal(code(() => validateImageName(g)), 'OK', g);
    });
  });
});
