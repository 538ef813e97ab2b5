/**
 * Signature policy interoperability: images in a real registry signed by real tools (GPG keys made
 * by gpg, signatures made by `skopeo copy --sign-by` into a lookaside store; sigstore signatures by
 * skopeo when it can, else openssl, see test/helpers/signing.ts), a table of policies, and for each
 * row our pull decision compared with `skopeo copy --policy FILE docker://... oci:DIR`'s.
 * Debian's skopeo has sigstore disabled (to sign and to verify): for sigstoreSigned rows it cannot
 * be the oracle; those rows are checked against their construction and counted apart.
 * Every refused pull must leave the store exactly as it was (refs, object count), `ostree fsck` clean.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OstreeRepo } from '../../../src/store/repo.js';
import { pullImage } from '../../../src/app/images/pull.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry-server.js';
import { atomic, atomicSysroot, cliEnvFor } from '../../helpers/cli.js';
import { gpgEnv, makeCosignKey, makeGpgKey, signSigstore, type CosignKey, type GpgKey } from '../../helpers/signing.js';

type Decision = 'accept' | 'refuse';
interface Row {
  name: string;
  policy: Record<string, unknown>;
  image: string;
  expect: Decision;
  sigstore?: boolean;
}

function countObjects(repo: string): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else n++;
    }
  };
  walk(path.join(repo, 'objects'));
  return n;
}

describe('signature policy: our decisions equal skopeo\'s on real signatures', function () {
  this.timeout(300_000);
  let reg: TestRegistry;
  let work: string;
  let fx: string;
  let R: string;
  let right: GpgKey;
  let wrong: GpgKey;
  let cosRight: CosignKey;
  let cosWrong: CosignKey;
  let lookaside: string;
  let regd: string;
  let baseDigest: string;
  let sigstoreTool = '';
  const rows: Row[] = [];

  const digestOf = (ref: string): string => {
    const out = execFileSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`]);
    return `sha256:${(require_sha256(out))}`;
  };
  function require_sha256(b: Buffer): string {
    return execFileSync('sha256sum', { input: b }).toString().split(' ')[0]!;
  }

  before(async () => {
    fx = fixtureImages();
    work = makeTempDir('atomic-trust-');
    reg = await startRegistry({ push: false });
    R = reg.host;
    const keys = path.join(work, 'keys');
    fs.mkdirSync(keys);
    const gh = path.join(work, 'gnupg');
    right = makeGpgKey(gh, 'Right Signer <right@example.com>', keys);
    wrong = makeGpgKey(gh, 'Wrong Signer <wrong@example.com>', keys);
    cosRight = makeCosignKey(keys, 'cosign-right');
    cosWrong = makeCosignKey(keys, 'cosign-wrong');
    lookaside = path.join(work, 'lookaside');
    regd = path.join(work, 'registries.d');
    fs.mkdirSync(regd);
    fs.writeFileSync(path.join(regd, 'default.yaml'), `default-docker:\n  lookaside: file://${lookaside}\n  lookaside-staging: file://${lookaside}\ndocker:\n  ${R}/sig:\n    use-sigstore-attachments: true\n`);
    const env = gpgEnv(gh);
    const base = `oci:${fx}/oci:base`;
    const layered = `oci:${fx}/oci:layered`;
    const pushArgs = (src: string, repo: string, extra: string[] = []): string[] => ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', '--registries.d', regd, ...extra, src, `docker://${R}/${repo}`];
    const pushAsync = (src: string, repo: string, extra: string[] = []): Promise<void> =>
      new Promise((resolve, reject) => {
        const c = spawn('skopeo', pushArgs(src, repo, extra), { env, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        c.stderr.on('data', (d: Buffer) => (err += d.toString()));
        c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`skopeo push ${repo}: ${err}`))));
      });
    // the blobs first (sequentially), then every push at once, 4 at a time
    await pushAsync(base, 'gpg/unsigned:1');
    await pushAsync(layered, 'gpg/otherdigest:1');
    const jobs: Array<[string, string, string[]]> = [
      // GPG: signed by skopeo with the right / wrong key, signed for another identity
      [base, 'gpg/signed:1', ['--sign-by', right.fingerprint]],
      [base, 'gpg/wrongkey:1', ['--sign-by', wrong.fingerprint]],
      [base, 'gpg/idmismatch:1', ['--sign-by', right.fingerprint, '--sign-identity', `${R}/gpg/someone-else:1`]],
      // a valid signature (right key, right identity) for another digest: signed on `decoy`, copied to `otherdigest`
      [base, 'gpg/decoy:1', ['--sign-by', right.fingerprint, '--sign-identity', `${R}/gpg/otherdigest:1`]],
      [base, 'gpg/tampered:1', ['--sign-by', right.fingerprint]],
      [base, 'mirror/gpg/signed:1', []],
      // two signed releases of an image with /exports, for install / update --rebase / rollback
      [`oci:${fx}/oci:systest`, 'gpg/app:1', ['--sign-by', right.fingerprint]],
      [`oci:${fx}/oci:systest-update`, 'gpg/app:2', ['--sign-by', right.fingerprint]],
      // sigstore (signed below)
      ...['sig/unsigned', 'sig/signed', 'sig/wrongkey', 'sig/tampered', 'sig/idmismatch'].map((r): [string, string, string[]] => [base, `${r}:1`, []]),
      [layered, 'sig/otherdigest:1', []],
    ];
    for (let i = 0; i < jobs.length; i += 4) await Promise.all(jobs.slice(i, i + 4).map(([src, repo, extra]) => pushAsync(src, repo, extra)));
    baseDigest = digestOf(`${R}/gpg/signed:1`);
    const layeredDigest = digestOf(`${R}/gpg/otherdigest:1`);
    assert.notEqual(layeredDigest, baseDigest);
    const sigDir = (repo: string, digest: string): string => path.join(lookaside, `${repo}@${digest.replace(':', '=')}`);
    fs.mkdirSync(sigDir('gpg/otherdigest', layeredDigest), { recursive: true });
    fs.copyFileSync(path.join(sigDir('gpg/decoy', baseDigest), 'signature-1'), path.join(sigDir('gpg/otherdigest', layeredDigest), 'signature-1'));
    // tampered: a good signature with one byte of the signature packet changed
    const tf = path.join(sigDir('gpg/tampered', baseDigest), 'signature-1');
    const t = fs.readFileSync(tf);
    t[t.length - 4] ^= 0x01;
    fs.writeFileSync(tf, t);
    // a mirror whose signature names the original repository (remapIdentity)
    fs.mkdirSync(sigDir('mirror/gpg/signed', baseDigest), { recursive: true });
    fs.copyFileSync(path.join(sigDir('gpg/signed', baseDigest), 'signature-1'), path.join(sigDir('mirror/gpg/signed', baseDigest), 'signature-1'));

    for (const [repo, key, o] of [
      ['sig/signed', cosRight, {}],
      ['sig/wrongkey', cosWrong, {}],
      ['sig/tampered', cosRight, { tamper: true }],
      ['sig/idmismatch', cosRight, { identity: `${R}/sig/someone-else:1` }],
    ] as Array<[string, CosignKey, { tamper?: boolean; identity?: string }]>) {
      sigstoreTool = await signSigstore(R, repo, '1', base, baseDigest, key, { registriesD: regd, ...o });
    }
    await signSigstore(R, 'sig/otherdigest', '1', layered, layeredDigest, cosRight, { registriesD: regd, forDigest: baseDigest });

    const accept = [{ type: 'insecureAcceptAnything' }];
    const reject = [{ type: 'reject' }];
    const signedBy = (key: GpgKey | { keyData: string } | { keyPaths: string[] }, identity?: unknown) => [{ type: 'signedBy', keyType: 'GPGKeys', ...('fingerprint' in key ? { keyPath: key.publicKey } : key), ...(identity ? { signedIdentity: identity } : {}) }];
    const sigstore = (key: CosignKey) => [{ type: 'sigstoreSigned', keyPath: key.publicKey }];
    const scoped = (scopes: Record<string, unknown>, def: unknown = reject) => ({ default: def, transports: { docker: scopes } });
    rows.push(
      { name: 'reject-all', policy: { default: reject }, image: `${R}/gpg/signed:1`, expect: 'refuse' },
      { name: 'accept-all', policy: { default: accept }, image: `${R}/gpg/unsigned:1`, expect: 'accept' },
      { name: 'signedBy right key', policy: scoped({ [`${R}/gpg`]: signedBy(right) }), image: `${R}/gpg/signed:1`, expect: 'accept' },
      { name: 'signedBy right key, pulled by digest', policy: scoped({ [`${R}/gpg`]: signedBy(right) }), image: `${R}/gpg/signed@${baseDigest}`, expect: 'accept' },
      { name: 'signedBy keyData', policy: scoped({ [R]: signedBy({ keyData: fs.readFileSync(right.publicKey).toString('base64') }) }), image: `${R}/gpg/signed:1`, expect: 'accept' },
      { name: 'signedBy keyPaths [wrong, right]', policy: scoped({ [R]: signedBy({ keyPaths: [wrong.publicKey, right.publicKey] }) }), image: `${R}/gpg/signed:1`, expect: 'accept' },
      { name: 'signedBy wrong key (policy)', policy: scoped({ [`${R}/gpg`]: signedBy(wrong) }), image: `${R}/gpg/signed:1`, expect: 'refuse' },
      { name: 'signedBy wrong key (image)', policy: scoped({ [`${R}/gpg`]: signedBy(right) }), image: `${R}/gpg/wrongkey:1`, expect: 'refuse' },
      { name: 'identity mismatch', policy: scoped({ [`${R}/gpg`]: signedBy(right) }), image: `${R}/gpg/idmismatch:1`, expect: 'refuse' },
      { name: 'identity mismatch, exactReference', policy: scoped({ [`${R}/gpg`]: signedBy(right, { type: 'exactReference', dockerReference: `${R}/gpg/someone-else:1` }) }), image: `${R}/gpg/idmismatch:1`, expect: 'accept' },
      { name: 'identity: matchRepository', policy: scoped({ [`${R}/gpg`]: signedBy(right, { type: 'matchRepository' }) }), image: `${R}/gpg/idmismatch:1`, expect: 'refuse' },
      { name: 'mirror, matchRepoDigestOrExact', policy: scoped({ [`${R}/mirror`]: signedBy(right) }), image: `${R}/mirror/gpg/signed:1`, expect: 'refuse' },
      { name: 'mirror, remapIdentity', policy: scoped({ [`${R}/mirror`]: signedBy(right, { type: 'remapIdentity', prefix: `${R}/mirror`, signedPrefix: R }) }), image: `${R}/mirror/gpg/signed:1`, expect: 'accept' },
      { name: 'signature for another digest', policy: scoped({ [`${R}/gpg`]: signedBy(right) }), image: `${R}/gpg/otherdigest:1`, expect: 'refuse' },
      { name: 'tampered signature', policy: scoped({ [`${R}/gpg`]: signedBy(right) }), image: `${R}/gpg/tampered:1`, expect: 'refuse' },
      { name: 'unsigned image under signedBy', policy: scoped({ [`${R}/gpg`]: signedBy(right) }), image: `${R}/gpg/unsigned:1`, expect: 'refuse' },
      { name: 'most specific scope wins (repo signedBy over host accept)', policy: scoped({ [R]: accept, [`${R}/gpg/unsigned`]: signedBy(right) }), image: `${R}/gpg/unsigned:1`, expect: 'refuse' },
      { name: 'most specific scope wins (tag accept over repo signedBy)', policy: scoped({ [`${R}/gpg`]: signedBy(right), [`${R}/gpg/unsigned:1`]: accept }), image: `${R}/gpg/unsigned:1`, expect: 'accept' },
      { name: 'two requirements: signedBy + reject', policy: scoped({ [`${R}/gpg`]: [...signedBy(right), { type: 'reject' }] }), image: `${R}/gpg/signed:1`, expect: 'refuse' },
      { name: 'sigstoreSigned right key', policy: scoped({ [`${R}/sig`]: sigstore(cosRight) }), image: `${R}/sig/signed:1`, expect: 'accept', sigstore: true },
      { name: 'sigstoreSigned wrong key (policy)', policy: scoped({ [`${R}/sig`]: sigstore(cosWrong) }), image: `${R}/sig/signed:1`, expect: 'refuse', sigstore: true },
      { name: 'sigstoreSigned wrong key (image)', policy: scoped({ [`${R}/sig`]: sigstore(cosRight) }), image: `${R}/sig/wrongkey:1`, expect: 'refuse', sigstore: true },
      { name: 'sigstore identity mismatch', policy: scoped({ [`${R}/sig`]: sigstore(cosRight) }), image: `${R}/sig/idmismatch:1`, expect: 'refuse', sigstore: true },
      { name: 'sigstore signature for another digest', policy: scoped({ [`${R}/sig`]: sigstore(cosRight) }), image: `${R}/sig/otherdigest:1`, expect: 'refuse', sigstore: true },
      { name: 'sigstore tampered signature', policy: scoped({ [`${R}/sig`]: sigstore(cosRight) }), image: `${R}/sig/tampered:1`, expect: 'refuse', sigstore: true },
      { name: 'unsigned image under sigstoreSigned', policy: scoped({ [`${R}/sig`]: sigstore(cosRight) }), image: `${R}/sig/unsigned:1`, expect: 'refuse', sigstore: true },
    );
  });
  after(() => {
    reg?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  function skopeoDecision(policyFile: string, image: string): { decision: Decision | 'unavailable'; stderr: string } {
    const out = path.join(work, 'skopeo-out');
    fs.rmSync(out, { recursive: true, force: true });
    const r = spawnSync('skopeo', ['--policy', policyFile, '--registries.d', regd, 'copy', '-q', '--remove-signatures', '--src-tls-verify=false', `docker://${image}`, `oci:${out}`], { encoding: 'utf8' });
    if (r.status === 0) return { decision: 'accept', stderr: '' };
    if (/sigstore disabled/.test(r.stderr)) return { decision: 'unavailable', stderr: r.stderr };
    assert.match(r.stderr, /rejected|Rejected/, `skopeo failed for another reason than the policy: ${r.stderr}`);
    return { decision: 'refuse', stderr: r.stderr };
  }

  it('every policy row: our decision = skopeo\'s (= the construction); refusals leave the store unchanged; ostree fsck clean', async () => {
    const repoPath = path.join(work, 'repo');
    const repo = await OstreeRepo.openOrCreate(repoPath, 'bare-user');
    const table: string[] = [];
    let agree = 0;
    let noOracle = 0;
    for (const [i, row] of rows.entries()) {
      const policyFile = path.join(work, `policy-${i}.json`);
      fs.writeFileSync(policyFile, JSON.stringify(row.policy, null, 2));
      const refsBefore = [...(await repo.listRefs()).entries()].sort().join('\n');
      const objectsBefore = countObjects(repoPath);
      let ours: Decision;
      let why = '';
      const lines: string[] = [];
      try {
        await pullImage(repo, `docker://${row.image}`, { name: `trust-row-${i}:latest`, trust: { policyPath: policyFile, registriesDir: regd }, onLine: (l) => lines.push(l) });
        ours = 'accept';
      } catch (e) {
        if (!isAtomicError(e) || e.code !== 'POLICY_REJECTED') throw e;
        ours = 'refuse';
        why = e.message;
        assert.equal(countObjects(repoPath), objectsBefore, `${row.name}: a refused pull wrote objects`);
        assert.equal([...(await repo.listRefs()).entries()].sort().join('\n'), refsBefore, `${row.name}: a refused pull changed refs`);
      }
      const sk = skopeoDecision(policyFile, row.image);
      if (sk.decision === 'unavailable') {
        assert.ok(row.sigstore, `${row.name}: skopeo could not evaluate a non-sigstore policy: ${sk.stderr}`);
        noOracle++;
      } else {
        assert.equal(ours, sk.decision, `${row.name}: we ${ours}, skopeo ${sk.decision} (${why || lines.join(' | ')}) (${sk.stderr.trim()})`);
        agree++;
      }
      assert.equal(ours, row.expect, `${row.name}: expected ${row.expect} (${why})`);
      if (ours === 'accept' && !lines.some((l) => l.startsWith('Accepting '))) assert.ok(lines.some((l) => /^Signature verified: (GPG key [0-9A-F]{40}|sigstore key \/)/.test(l)), `${row.name}: ${lines.join('\n')}`);
      table.push(`${row.name.padEnd(58)} ours=${ours.padEnd(6)} skopeo=${sk.decision}`);
    }
    execFileSync('ostree', ['fsck', '--quiet', `--repo=${repoPath}`], { env: { ...process.env, LC_ALL: 'C.UTF-8' }, stdio: ['ignore', 'ignore', 'pipe'] });
    const accepted = table.filter((l) => l.includes('ours=accept')).length;
    console.log(`      interop table (sigstore signatures made by ${sigstoreTool}):\n${table.map((l) => `        ${l}`).join('\n')}`);
    console.log(`      interop: ${rows.length} policies, ${accepted} accepted / ${rows.length - accepted} refused; ${agree} equal to skopeo's decision, 0 different, ${noOracle} without a skopeo oracle (Debian skopeo: sigstore disabled), all ${rows.length} equal to their construction`);
    assert.equal(agree + noOracle, rows.length);
    assert.ok(agree >= 19, `at least the ${19} GPG / generic rows must have skopeo as oracle (got ${agree})`);
  });

  function policyFile(name: string, doc: unknown): string {
    const f = path.join(work, `${name}.json`);
    fs.writeFileSync(f, JSON.stringify(doc));
    return f;
  }
  const gpgPolicy = (key: GpgKey, extra: Record<string, unknown> = {}) => ({
    default: [{ type: 'reject' }],
    transports: { docker: { [`${R}/gpg`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: key.publicKey }], [`${R}/sig`]: [{ type: 'sigstoreSigned', keyPath: cosRight.publicKey }], ...extra } },
  });

  it('CLI: pull says what was verified (key fingerprint / key file), images info shows the signers, images verify re-checks offline', () => {
    const env = cliEnvFor(path.join(work, 'cli'));
    const ok = policyFile('cli-right', gpgPolicy(right));
    const bad = policyFile('cli-wrong', gpgPolicy(wrong));
    const flags = ['--signature-policy', ok, '--registries.d', regd];
    const p = atomic(env, ['pull', ...flags, `docker://${R}/gpg/signed:1`]);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /^Getting image source signatures\n/m);
    assert.match(p.stdout, new RegExp(`^Signature verified: GPG key ${right.fingerprint} \\(signedBy, ${right.publicKey.replace(/[.]/g, '\\.')}\\), identity ${R}/gpg/signed:1$`, 'm'));
    assert.match(p.stdout, /^Storing signatures$/m);
    const s = atomic(env, ['pull', ...flags, `docker://${R}/sig/signed:1`]);
    assert.equal(s.status, 0, s.stderr);
    assert.match(s.stdout, new RegExp(`^Signature verified: sigstore key ${cosRight.publicKey.replace(/[.]/g, '\\.')} \\(sigstoreSigned\\), identity ${R}/sig/signed:1$`, 'm'));

    const info = atomic(env, ['images', 'info', `${R}/gpg/signed:1`]);
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, new RegExp(`Signatures \\(verified when pulled\\):\nGPG key ${right.fingerprint} .*identity ${R}/gpg/signed:1`));
    const j = JSON.parse(atomic(env, ['images', 'info', '--json', `${R}/sig/signed:1`]).stdout) as { signatures: { verified: Array<{ kind: string; key: string }> } };
    assert.deepEqual(j.signatures.verified.map((v) => [v.kind, v.key]), [['sigstore', cosRight.publicKey]]);

    // offline: the registry's signatures are not read again
    const v = atomic(env, ['images', 'verify', '--signature-policy', ok, `${R}/gpg/signed:1`]);
    assert.equal(v.status, 0, v.stderr + v.stdout);
    assert.match(v.stdout, new RegExp(`signature: Signature verified: GPG key ${right.fingerprint}`));
    const vb = atomic(env, ['images', 'verify', '--signature-policy', bad, `${R}/gpg/signed:1`]);
    assert.equal(vb.status, 7, vb.stderr + vb.stdout);
    assert.match(vb.stderr, /Source image rejected: .*not one of the policy's keys/);
    assert.match(vb.stdout, /^signature: FAILED/m);

    // images update verifies too; a refused update keeps the stored image as it was
    const listBefore = atomic(env, ['images', 'list']).stdout;
    const up = atomic(env, ['images', 'update', '--signature-policy', bad, '--registries.d', regd, `${R}/gpg/signed:1`]);
    assert.equal(up.status, 7, up.stderr + up.stdout);
    assert.match(up.stderr, /Source image rejected/);
    assert.equal(atomic(env, ['images', 'list']).stdout, listBefore);

    // a refusal names the requirement, the scope and the policy file, exit 7, nothing stored
    const r = atomic(env, ['pull', '--signature-policy', bad, '--registries.d', regd, `docker://${R}/gpg/unsigned:1`]);
    assert.equal(r.status, 7, r.stderr);
    assert.match(r.stderr, new RegExp(`A signature was required, but no GPG signature exists .*requirement "signedBy" of transports\\.docker\\["${R.replace(/[.]/g, '\\.')}/gpg"\\] in ${bad.replace(/[.]/g, '\\.')}`));
    assert.match(r.stderr, /Try this: /);
    assert.doesNotMatch(atomic(env, ['images', 'list']).stdout, /gpg\/unsigned/);

    // a missing policy file is an error, not an accept
    const m = atomic(env, ['pull', '--signature-policy', path.join(work, 'nonexistent.json'), `oci:${fx}/oci:base`]);
    assert.equal(m.status, 7, m.stderr);
    assert.match(m.stderr, /no signature policy at .*nonexistent\.json/);
    // accept-anything is said
    const a = atomic(env, ['pull', '--signature-policy', policyFile('accept', { default: [{ type: 'insecureAcceptAnything' }] }), `oci:${fx}/oci:base`]);
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stdout, /^Accepting oci:\S+ without checking signatures: the policy "default" in \S+accept\.json is insecureAcceptAnything$/m);
    assert.doesNotMatch(a.stdout, /Getting image source signatures/);
  });

  it('rollback to a deployment whose signature the changed policy no longer accepts is refused; --insecure-policy overrides', () => {
    const S = path.join(work, 'sysroot');
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
    const ok = policyFile('deploy-right', gpgPolicy(right));
    const flags = ['--signature-policy', ok, '--registries.d', regd];
    const i = atomicSysroot(S, ['install', '--system', '--name', 'signed', ...flags, `docker://${R}/gpg/app:1`]);
    assert.equal(i.status, 0, i.stderr + i.stdout);
    assert.match(i.stdout, new RegExp(`Signature verified: GPG key ${right.fingerprint}`));
    const u = atomicSysroot(S, ['containers', 'update', ...flags, '--rebase', `docker://${R}/gpg/app:2`, 'signed']);
    assert.equal(u.status, 0, u.stderr + u.stdout);
    assert.match(u.stdout, new RegExp(`Signature verified: GPG key ${right.fingerprint}`));
    // release 1 is no longer trusted: only the wrong key is accepted for it
    const changed = policyFile('deploy-changed', gpgPolicy(right, { [`${R}/gpg/app:1`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: wrong.publicKey }] }));
    const ck = path.join(S, 'var/lib/containers/atomic');
    const before = fs.readlinkSync(path.join(ck, 'signed'));
    const r = atomicSysroot(S, ['containers', 'rollback', '--signature-policy', changed, 'signed']);
    assert.equal(r.status, 7, r.stderr + r.stdout);
    assert.match(r.stderr, /rollback of signed refused: the image's stored signatures do not satisfy the current policy/);
    assert.match(r.stderr, /--insecure-policy/);
    assert.equal(fs.readlinkSync(path.join(ck, 'signed')), before, 'the refused rollback changed nothing');
    // the still-trusted policy accepts the rollback (offline: the registry is not needed)
    const o = atomicSysroot(S, ['containers', 'rollback', '--insecure-policy', 'signed']);
    assert.equal(o.status, 0, o.stderr + o.stdout);
    assert.match(o.stdout, /Signature policy not checked for the rollback of signed: --insecure-policy/);
    assert.notEqual(fs.readlinkSync(path.join(ck, 'signed')), before);
    const back = atomicSysroot(S, ['containers', 'rollback', '--signature-policy', ok, 'signed']);
    assert.equal(back.status, 0, back.stderr + back.stdout);
    assert.equal(fs.readlinkSync(path.join(ck, 'signed')), before);
    // install of a stored image re-checks it offline too
    const i2 = atomicSysroot(S, ['install', '--system', '--name', 'again', '--signature-policy', changed, `${R}/gpg/app:1`]);
    assert.equal(i2.status, 7, i2.stderr + i2.stdout);
    assert.match(i2.stderr, /use of .*app:1 refused/);
  });
});

