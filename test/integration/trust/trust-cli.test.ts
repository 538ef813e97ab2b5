/**
 * `atomic trust show | add | delete | default` on scratch policy.json / registries.d files:
 * atomic replacement, unknown keys kept, the written policy is one our reader (and skopeo) accepts.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { atomic, cliEnvFor } from '../../helpers/cli.js';
import { parsePolicy } from '../../../src/image/trust/policy.js';
import { createContext } from '../../../src/app/context.js';
import { trustAdd, type TrustAddOptions } from '../../../src/app/trust/trust-edit.js';
import type { AtomicError } from '../../../src/util/errors.js';

describe('atomic trust', function () {
  this.timeout(120_000);
  let work: string;
  let pol: string;
  let regd: string;
  let gpgKey: string;
  let cosignPub: string;
  const t = (args: string[]) => atomic(cliEnvFor(work), ['trust', ...args, '--signature-policy', pol, ...(args[0] === 'default' ? [] : ['--registries.d', regd])]);

  before(() => {
    work = makeTempDir('atomic-trust-cli-');
    pol = path.join(work, 'policy.json');
    regd = path.join(work, 'registries.d');
    const gh = path.join(work, 'gnupg');
    fs.mkdirSync(gh, { mode: 0o700 });
    const env = { ...process.env, GNUPGHOME: gh };
    execFileSync('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', 'T <t@example.com>', 'ed25519', 'sign', 'never'], { env, stdio: 'ignore' });
    gpgKey = path.join(work, 'key.gpg');
    fs.writeFileSync(gpgKey, execFileSync('gpg', ['--batch', '--export'], { env }));
    cosignPub = path.join(work, 'cosign.pub');
    fs.writeFileSync(cosignPub, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('show without a policy file is an error naming the file and how to create it', () => {
    const r = t(['show']);
    assert.equal(r.status, 7, r.stderr);
    assert.match(r.stderr, /no signature policy at .*policy\.json/);
    assert.match(r.stderr, /atomic trust default reject/);
  });

  it('default, add (lookaside + sigstore + reject), show, delete: other keys kept, files valid for skopeo', () => {
    assert.equal(t(['default', 'reject']).status, 0);
    // foreign content that must survive our edits
    const doc = JSON.parse(fs.readFileSync(pol, 'utf8'));
    doc.transports = { 'docker-daemon': { '': [{ type: 'insecureAcceptAnything' }] }, docker: { 'quay.io/keep': [{ type: 'reject' }] } };
    fs.writeFileSync(pol, JSON.stringify(doc));
    fs.mkdirSync(regd);
    fs.writeFileSync(path.join(regd, 'other.yaml'), '# a comment\ndocker:\n  quay.io/keep:\n    lookaside: https://sigs.example.com # kept\n    x-custom: 1\n');

    let r = t(['add', '--sigstoretype', 'lookaside', '--pubkeys', gpgKey, '--sigstore', 'file:///var/lib/sigs', 'registry.example.com/apps']);
    assert.equal(r.status, 0, r.stderr);
    r = t(['add', '--sigstoretype', 'sigstore', '--pubkeys', cosignPub, 'registry.example.com/cosigned']);
    assert.equal(r.status, 0, r.stderr);
    r = t(['add', '--type', 'insecureAcceptAnything', 'localhost:5000']);
    assert.equal(r.status, 0, r.stderr);
    const after = JSON.parse(fs.readFileSync(pol, 'utf8'));
    assert.deepEqual(after.transports['docker-daemon'], { '': [{ type: 'insecureAcceptAnything' }] });
    assert.deepEqual(after.transports.docker['quay.io/keep'], [{ type: 'reject' }]);
    assert.deepEqual(after.transports.docker['registry.example.com/apps'], [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: gpgKey, signedIdentity: { type: 'matchRepoDigestOrExact' } }]);
    assert.deepEqual(after.transports.docker['registry.example.com/cosigned'], [{ type: 'sigstoreSigned', keyPath: cosignPub, signedIdentity: { type: 'matchRepoDigestOrExact' } }]);
    parsePolicy(fs.readFileSync(pol, 'utf8'), pol);
    const y = fs.readFileSync(path.join(regd, 'registry.example.com.yaml'), 'utf8');
    assert.match(y, /registry\.example\.com\/apps:\n\s+lookaside: file:\/\/\/var\/lib\/sigs/);
    assert.match(y, /registry\.example\.com\/cosigned:\n\s+use-sigstore-attachments: true/);
    assert.equal(fs.readFileSync(path.join(regd, 'other.yaml'), 'utf8'), '# a comment\ndocker:\n  quay.io/keep:\n    lookaside: https://sigs.example.com # kept\n    x-custom: 1\n');
    // no temp files left behind
    assert.deepEqual(fs.readdirSync(work).filter((f) => f.includes('.tmp-')), []);
    // skopeo parses the policy we wrote and applies its default (reject) to a local image
    const sk = spawnSync('skopeo', ['--policy', pol, '--registries.d', regd, 'copy', `oci:${fixtureImages()}/oci:base`, `oci:${path.join(work, 'x')}`], { encoding: 'utf8', timeout: 60_000 });
    assert.match(sk.stderr, /Source image rejected: Running image oci:\S+ is rejected by policy/, sk.stderr);

    const show = t(['show']);
    assert.equal(show.status, 0, show.stderr);
    assert.match(show.stdout, /^\* \(default\)\s+reject$/m);
    assert.match(show.stdout, new RegExp(`^registry\\.example\\.com/apps\\s+signed\\s+${gpgKey.replace(/[.]/g, '\\.')}\\s+lookaside file:///var/lib/sigs$`, 'm'));
    assert.match(show.stdout, /^registry\.example\.com\/cosigned\s+sigstoreSigned\s+\S+cosign\.pub\s+registry \(sigstore attachments\)$/m);
    assert.match(show.stdout, /^localhost:5000\s+accept$/m);
    const js = JSON.parse(t(['show', '--json']).stdout) as { policy: string; scopes: Array<{ scope: string | null; type: string }> };
    assert.equal(js.policy, pol);
    assert.deepEqual(js.scopes.find((s) => s.scope === 'registry.example.com/apps')?.type, 'signed');

    r = t(['delete', 'registry.example.com/apps']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(fs.readFileSync(pol, 'utf8')).transports.docker['registry.example.com/apps'], undefined);
    assert.doesNotMatch(fs.readFileSync(path.join(regd, 'registry.example.com.yaml'), 'utf8'), /apps/);
    assert.equal(t(['delete', 'registry.example.com/apps']).status, 3);
  });

  it('refuses bad input with exit 2 and changes nothing', async () => {
    const before = fs.readFileSync(pol, 'utf8');
    const notKey = path.join(work, 'not-a-key');
    fs.writeFileSync(notKey, 'hello');
    // in-process (the CLI maps the same errors to exit codes: see the exit-2 case below)
    const ctx = createContext({}, { line: () => {}, warn: () => {}, isTTY: false });
    ctx.trust = { policyPath: pol, registriesDir: regd };
    const bad = async (o: TrustAddOptions, msg: RegExp): Promise<void> => {
      await assert.rejects(trustAdd(ctx, o), (e: AtomicError) => e.exitCode === 2 && msg.test(e.message));
    };
    await bad({ type: 'sigstoreSigned', pubkeys: [notKey], scope: 'registry.example.com/x' }, /not-a-key is not a PEM public key/);
    await bad({ type: 'signedBy', scope: 'registry.example.com/x' }, /needs --pubkeys FILE/);
    await bad({ type: 'reject', scope: 'Not A Scope!' }, /is not a registry scope/);
    await bad({ type: 'signedBy', pubkeys: [gpgKey], sigstore: 'ftp://x', scope: 'registry.example.com/x' }, /use a file:\/\/, http:\/\/ or https:\/\/ URL/);
    const r = t(['add', '--sigstoretype', 'lookaside', 'registry.example.com/x']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /needs --pubkeys FILE/);
    assert.equal(fs.readFileSync(pol, 'utf8'), before);
  });
});
