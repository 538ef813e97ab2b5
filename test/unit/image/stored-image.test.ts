import { strict as assert } from 'node:assert';
import { META, imageIdOf, imageRef, isHexRef, layerRef, whiteoutTarget, isOpaqueDir } from '../../../src/image/stored-image.js';
import type { Checksum, Metadata } from '../../../src/store/types.js';
import { code } from '../../helpers/error-code.js';

const hex = (c: string): string => c.repeat(64);
const str = (value: string) => ({ type: 's' as const, value });

describe('image/stored-image', () => {
  describe('imageRef / layerRef / isHexRef', () => {
    const refs: Array<[string, string]> = [
      ['busybox', 'ociimage/busybox_3Alatest'],
      ['docker.io/busybox', 'ociimage/docker.io_2Fbusybox_3Alatest'],
      ['atomic-test-system:latest', 'ociimage/atomic-test-system_3Alatest'],
      ['registry.fedoraproject.org/f27/kubernetes-apiserver', 'ociimage/registry.fedoraproject.org_2Ff27_2Fkubernetes-apiserver_3Alatest'],
      ['oci:busybox', 'ociimage/busybox_3Alatest'],
      ['busybox@sha256:' + 'a'.repeat(64), 'ociimage/busybox_3Alatest'],
      ['localhost/systest:1.0', 'ociimage/localhost_2Fsystest_3A1.0'],
    ];
    for (const [name, ref] of refs) {
      it(`${name} → ${ref}`, () => assert.equal(imageRef(name), ref));
    }
    it('encoded image refs never look like hex', () => {
      for (const n of ['cafe', 'abc', 'deadbeef:1', 'f00d']) assert.equal(isHexRef(imageRef(n).slice('ociimage/'.length)), false, n);
    });
    it('layer refs are hex', () => {
      const d = 'sha256:' + '0123456789abcdef'.repeat(4);
      assert.equal(layerRef(d), 'ociimage/' + '0123456789abcdef'.repeat(4));
      assert.equal(isHexRef(layerRef(d).slice('ociimage/'.length)), true);
      assert.equal(
        code(() => layerRef('sha256:xyz')),
        'IMAGE_INVALID',
      );
    });
    it('refuses names too long once encoded', () => {
      assert.equal(
        code(() => imageRef('a/'.repeat(80) + 'b')),
        'USAGE',
      );
    });
  });

  describe('imageIdOf (the one image-ID rule)', () => {
    const commit = hex('c') as Checksum;
    it('is the manifest digest (docker.digest) without sha256:', () => {
      const meta: Metadata = [
        [META.digest, str(`sha256:${hex('a')}`)],
        [META.manifest, str(JSON.stringify({ config: { digest: `sha256:${hex('b')}` } }))],
      ];
      assert.equal(imageIdOf(meta, commit), hex('a'));
    });
    it('else a legacy manifest Digest, else the config digest, else the commit', () => {
      assert.equal(imageIdOf([[META.manifest, str(JSON.stringify({ Digest: `sha256:${hex('d')}`, config: { digest: `sha256:${hex('b')}` } }))]], commit), hex('d'));
      assert.equal(imageIdOf([[META.manifest, str(JSON.stringify({ config: { digest: `sha256:${hex('b')}` } }))]], commit), hex('b'));
      assert.equal(imageIdOf([[META.manifest, str('not json')]], commit), commit);
      assert.equal(imageIdOf([], commit), commit);
    });
  });

  describe('whiteouts', () => {
    it('.wh.NAME deletes NAME; the opaque marker and .wh..wh.* metadata delete nothing', () => {
      assert.equal(whiteoutTarget('.wh.etc'), 'etc');
      assert.equal(whiteoutTarget('.wh..wh..opq'), null);
      assert.equal(whiteoutTarget('.wh..wh.plnk'), null);
      assert.equal(whiteoutTarget('etc'), null);
      assert.equal(isOpaqueDir([{ name: 'a' }, { name: '.wh..wh..opq' }]), true);
      assert.equal(isOpaqueDir([{ name: '.wh.a' }]), false);
    });
  });
});
