/** containers-policy.json(5) rules in isolation: scopes, most specific wins, identities, strict parsing, registries.d lookup. */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dockerScopes, parseDockerRef } from '../../../../src/image/trust/docker-ref.js';
import { identityMatches } from '../../../../src/image/trust/identity.js';
import { parsePolicy, type IdentityRule } from '../../../../src/image/trust/policy.js';
import { requirementsFor } from '../../../../src/image/trust/evaluate.js';
import { pathScopes } from '../../../../src/image/trust/subject.js';
import { loadRegistriesD, lookasideFor, useSigstoreAttachments } from '../../../../src/image/trust/registries-d.js';
import { lookasideUrl } from '../../../../src/image/trust/fetch-signatures.js';
import { dearmor } from '../../../../src/image/trust/gpg.js';
import { parsePayload, GPG_PAYLOAD_TYPE, manifestMatchesDigest } from '../../../../src/image/trust/payload.js';

describe('trust: policy rules', () => {
  it('docker scopes, most specific first (containers/image order, wildcards without the port)', () => {
    assert.deepEqual(dockerScopes(parseDockerRef('reg.example.com:5000/ns/app:1')), [
      'reg.example.com:5000/ns/app:1', 'reg.example.com:5000/ns/app', 'reg.example.com:5000/ns', 'reg.example.com:5000', '*.example.com', '*.com',
    ]);
    assert.deepEqual(dockerScopes(parseDockerRef('busybox')).slice(0, 3), ['docker.io/library/busybox', 'docker.io/library', 'docker.io']);
    assert.equal(dockerScopes(parseDockerRef(`r.io/a@sha256:${'a'.repeat(64)}`))[0], `r.io/a@sha256:${'a'.repeat(64)}`);
    assert.deepEqual(pathScopes('/srv/images/oci', 'v1'), ['/srv/images/oci:v1', '/srv/images/oci', '/srv/images', '/srv']);
  });

  it('the most specific scope of the transport wins, then the transport default, then "default"', () => {
    const p = parsePolicy(JSON.stringify({
      default: [{ type: 'reject' }],
      transports: { docker: { 'r.io': [{ type: 'insecureAcceptAnything' }], 'r.io/ns/app': [{ type: 'reject' }], '*.io': [{ type: 'reject' }] }, oci: { '': [{ type: 'insecureAcceptAnything' }] } },
    }), 'p.json');
    const pick = (t: string, s: string[]) => requirementsFor(p, t, s).scope;
    assert.equal(pick('docker', dockerScopes(parseDockerRef('r.io/ns/app:1'))), 'r.io/ns/app');
    assert.equal(pick('docker', dockerScopes(parseDockerRef('r.io/ns/other:1'))), 'r.io');
    assert.equal(pick('docker', dockerScopes(parseDockerRef('x.io/a:1'))), '*.io');
    assert.equal(pick('docker', dockerScopes(parseDockerRef('x.com/a:1'))), null);
    assert.equal(pick('oci', ['/a:b', '/a']), '');
  });

  it('signedIdentity rules', () => {
    const m = (rule: IdentityRule, image: string | null, sig: string) => identityMatches(rule, image === null ? null : parseDockerRef(image), parseDockerRef(sig));
    const d = `@sha256:${'b'.repeat(64)}`;
    assert.equal(m({ type: 'matchRepoDigestOrExact' }, 'r.io/a:1', 'r.io/a:1'), true);
    assert.equal(m({ type: 'matchRepoDigestOrExact' }, 'r.io/a:1', 'r.io/a:2'), false);
    assert.equal(m({ type: 'matchRepoDigestOrExact' }, `r.io/a${d}`, 'r.io/a:2'), true, 'by digest: the repository must match');
    assert.equal(m({ type: 'matchRepoDigestOrExact' }, null, 'r.io/a:1'), false, 'no docker reference (local transports)');
    assert.equal(m({ type: 'matchExact' }, `r.io/a${d}`, 'r.io/a:2'), false);
    assert.equal(m({ type: 'matchRepository' }, 'r.io/a:1', 'r.io/a:7'), true);
    assert.equal(m({ type: 'matchRepository' }, 'r.io/a:1', 'r.io/b:1'), false);
    assert.equal(m({ type: 'exactReference', dockerReference: 'r.io/b:1' }, 'r.io/a:1', 'r.io/b:1'), true);
    assert.equal(m({ type: 'exactRepository', dockerRepository: 'r.io/b' }, null, 'r.io/b:9'), true);
    assert.equal(m({ type: 'remapIdentity', prefix: 'mirror.io/x', signedPrefix: 'r.io' }, 'mirror.io/x/a:1', 'r.io/a:1'), true);
    assert.equal(m({ type: 'remapIdentity', prefix: 'mirror.io/x', signedPrefix: 'r.io' }, 'mirror.io/xy/a:1', 'r.io/a:1'), false, 'prefix ends at a component');
    assert.equal(m({ type: 'matchExact' }, 'busybox:1', 'docker.io/library/busybox:1'), true, 'docker.io normalization');
  });

  it('strict parsing as containers/image: unknown fields, empty lists, key choices, unsupported keyless', () => {
    const bad = (doc: unknown, msg: RegExp) => assert.throws(() => parsePolicy(JSON.stringify(doc), 'p.json'), (e: Error) => msg.test(e.message));
    bad({}, /"default" is required/);
    bad({ default: [] }, /empty list of requirements/);
    bad({ default: [{ type: 'reject', extra: 1 }] }, /unknown field "extra"/);
    bad({ default: [{ type: 'signedBy', keyType: 'GPGKeys' }] }, /exactly one of keyPath, keyPaths and keyData/);
    bad({ default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k', keyData: 'AA==' }] }, /exactly one/);
    bad({ default: [{ type: 'signedBy', keyType: 'X509Certificates', keyPath: '/k' }] }, /not implemented/);
    bad({ default: [{ type: 'sigstoreSigned', fulcio: {} }] }, /not supported/);
    bad({ default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k', signedIdentity: { type: 'exactReference', dockerReference: 'r.io/a' } }] }, /must have a tag or a digest/);
    bad({ default: [{ type: 'reject' }], transports: { docker: { 'Not Valid': [{ type: 'reject' }] } } }, /not a valid docker scope/);
    bad({ default: [{ type: 'reject' }], transports: { oci: { relative: [{ type: 'reject' }] } } }, /absolute paths/);
    bad('nope', /must be a JSON object/);
  });

  it('registries.d: the most specific docker scope, then default-docker; duplicates across files are errors', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'regd-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.yaml'), 'default-docker:\n  lookaside: https://sigs.example.com\ndocker:\n  r.io/ns:\n    sigstore: file:///old\n    use-sigstore-attachments: true\n');
      fs.writeFileSync(path.join(dir, 'b.yaml'), 'docker:\n  r.io/ns/app:\n    lookaside: file:///new\n    use-sigstore-attachments: false\n');
      const c = loadRegistriesD(dir);
      assert.equal(lookasideFor(c, parseDockerRef('r.io/ns/app:1'))?.url, 'file:///new');
      assert.equal(lookasideFor(c, parseDockerRef('r.io/ns/other:1'))?.url, 'file:///old', 'legacy "sigstore" key');
      assert.equal(lookasideFor(c, parseDockerRef('q.io/x:1'))?.url, 'https://sigs.example.com');
      assert.equal(useSigstoreAttachments(c, parseDockerRef('r.io/ns/app:1')), false);
      assert.equal(useSigstoreAttachments(c, parseDockerRef('r.io/ns/other:1')), true);
      assert.equal(lookasideUrl('file:///s/', parseDockerRef('r.io/ns/app:1'), `sha256:${'c'.repeat(64)}`, 2), `file:///s/ns/app@sha256=${'c'.repeat(64)}/signature-2`);
      fs.writeFileSync(path.join(dir, 'c.yaml'), 'docker:\n  r.io/ns:\n    lookaside: file:///dup\n');
      assert.throws(() => loadRegistriesD(dir), /also defined in/);
      assert.deepEqual(loadRegistriesD(path.join(dir, 'missing')).docker, {});
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('payload parsing is exact; digests are checked on the raw manifest bytes; armor is decoded', () => {
    const raw = Buffer.from('{"schemaVersion":2}');
    const digest = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    const ok = { critical: { type: GPG_PAYLOAD_TYPE, image: { 'docker-manifest-digest': digest }, identity: { 'docker-reference': 'r.io/a:1' } }, optional: {} };
    assert.deepEqual(parsePayload(Buffer.from(JSON.stringify(ok)), GPG_PAYLOAD_TYPE), { manifestDigest: digest, dockerReference: 'r.io/a:1' });
    assert.throws(() => parsePayload(Buffer.from(JSON.stringify({ ...ok, critical: { ...ok.critical, extra: 1 } })), GPG_PAYLOAD_TYPE), /expected exactly/);
    assert.throws(() => parsePayload(Buffer.from(JSON.stringify({ critical: { ...ok.critical, type: 'x' }, optional: {} })), GPG_PAYLOAD_TYPE), /signature type/);
    assert.equal(manifestMatchesDigest(raw, digest), true);
    assert.equal(manifestMatchesDigest(Buffer.from('{"schemaVersion": 2}'), digest), false);
    const bin = Buffer.from([0x99, 1, 2, 3, 4, 5]);
    const armored = `-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: x\n\n${bin.toString('base64')}\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n`;
    assert.deepEqual(dearmor(Buffer.from(armored)), bin);
    assert.deepEqual(dearmor(bin), bin);
  });
});
