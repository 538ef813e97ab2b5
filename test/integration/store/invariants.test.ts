import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deploymentProblems, storeProblems, withInvariants } from '../../helpers/invariants.js';
import { makeTempDir, VECTORS_DIR } from '../../helpers/fixtures.js';
import { extractBareRepos } from './vector-helpers.js';

/** The invariant check the CLI helper runs after every step (test/helpers/invariants.ts) finds what it must. */
describe('test helper: store and deployment invariants', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = extractBareRepos();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('repos written by the real ostree, in every mode, have no problem', () => {
    for (const mode of ['bare', 'bare-user', 'bare-user-only']) assert.deepEqual(storeProblems(path.join(dir, `repo-${mode}`)), [], mode);
    assert.deepEqual(storeProblems(path.join(VECTORS_DIR, 'repo-archive')), []);
  });

  it('a missing object, a dangling ref and a staging leftover are reported', () => {
    const repo = path.join(dir, 'repo-bare');
    const objects = path.join(repo, 'objects');
    const sub = fs.readdirSync(objects).find((d) => fs.readdirSync(path.join(objects, d)).some((f) => f.endsWith('.file')))!;
    const victim = fs.readdirSync(path.join(objects, sub)).find((f) => f.endsWith('.file'))!;
    fs.renameSync(path.join(objects, sub, victim), path.join(dir, 'victim'));
    assert.ok(
      storeProblems(repo).some((p) => p.includes(`object ${sub}${victim} is missing`)),
      storeProblems(repo).join('\n'),
    );
    fs.renameSync(path.join(dir, 'victim'), path.join(objects, sub, victim));
    fs.writeFileSync(path.join(repo, 'refs', 'heads', 'dangling'), `${'ab'.repeat(32)}\n`);
    assert.ok(storeProblems(repo).some((p) => p.startsWith('ref dangling: object')));
    fs.rmSync(path.join(repo, 'refs', 'heads', 'dangling'));
    fs.mkdirSync(path.join(repo, 'tmp', 'staging-1-x'), { recursive: true });
    assert.equal(storeProblems(repo).length, 1);
    assert.deepEqual(storeProblems(repo, { crashed: true }), []);
    fs.rmSync(path.join(repo, 'tmp', 'staging-1-x'), { recursive: true });
  });

  it('an incomplete slot, a foreign link target and a stray journal are reported; only what a step added fails it', () => {
    const ck = makeTempDir('inv-ck-');
    try {
      fs.mkdirSync(path.join(ck, 'web.0', 'rootfs'), { recursive: true });
      fs.writeFileSync(path.join(ck, 'web.0', 'info'), '{}');
      fs.symlinkSync(path.join(ck, 'web.0'), path.join(ck, 'web'));
      assert.deepEqual(deploymentProblems(ck), [`link ${path.join(ck, 'web')}: slot ${path.join(ck, 'web.0')} is incomplete (config.json missing)`]);
      fs.writeFileSync(path.join(ck, 'web.0', 'config.json'), '{}');
      fs.symlinkSync('/elsewhere', path.join(ck, 'odd'));
      assert.equal(deploymentProblems(ck).length, 1);
      const target = { repo: path.join(ck, 'no-repo'), checkoutRoot: ck };
      // the foreign link was there before: a step that adds nothing passes
      assert.equal(
        withInvariants(
          target,
          () => 0,
          () => false,
          'noop',
        ),
        0,
      );
      const journal = path.join(ck, '.atomic', 'journal');
      const addJournal = () => {
        fs.mkdirSync(journal, { recursive: true });
        fs.writeFileSync(path.join(journal, 'web.json'), JSON.stringify({ op: 'update', name: 'web', phase: 'host' }));
      };
      assert.throws(() => withInvariants(target, addJournal, () => false, 'containers update web'), /journal .* left behind/);
      fs.rmSync(journal, { recursive: true });
      withInvariants(target, addJournal, () => true, 'containers update web (killed)');
      fs.writeFileSync(path.join(journal, 'web.json'), '{"op":"dance"}');
      assert.ok(deploymentProblems(ck, { crashed: true }).some((p) => p.includes('not a consistent journal of web')));
    } finally {
      fs.rmSync(ck, { recursive: true, force: true });
    }
  });
});
