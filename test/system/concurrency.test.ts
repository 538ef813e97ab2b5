/**
 * Concurrency under the real systemd: rounds of 8 parallel `atomic` processes (install, update,
 * uninstall, pull, images prune, rollback) over the same and different names. They must
 * serialize on the container and repo locks: each either succeeds, or fails with a clear "busy"
 * (LOCK_BUSY, exit 4) or a real conflict (not installed / already present / no previous
 * deployment); at the end the store fscks clean, every container is complete or absent, and no
 * deployment (current or rollback slot) refers to an image whose layers prune removed.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureImages } from '../helpers/fixtures.js';
import { underSystemd, atomicHost, spawnAtomic, ostreeFsck, sh, type Run } from '../helpers/system.js';
import { deployState } from '../helpers/deploy-state.js';

const CK = '/var/lib/containers/atomic';
const REPO = `${CK}/.storage/ostree`;
const ROUNDS = Number(process.env.ATOMIC_CONC_ROUNDS ?? 4);
const NAMES = ['conc-a', 'conc-b', 'conc-c'];

/** A failure that is a clear "busy" or a real conflict, not a bug. */
const CONFLICT = /is busy|LOCK_BUSY|is not installed|already present|Cannot find a previous deployment|Latest version already installed|Unable to find '/;

describe('system: 8 parallel install/update/uninstall/pull/prune processes', function () {
  this.timeout(600_000);
  let fx: string;
  const figures = { processes: 0, ok: 0, conflicts: 0, busy: 0, other: 0, maxMs: 0, wallMs: 0 };
  const otherFailures: string[] = [];

  before(function () {
    assert.ok(underSystemd(), 'the system suite runs only inside the systemd harness: use `npm run test:system` (npm test runs it)');
    fx = fixtureImages();
    for (const t of ['systest', 'systest-update']) assert.equal(atomicHost(['pull', `oci:${fx}/oci:${t}`]).status, 0);
  });
  after(() => {
    console.log(
      `      concurrency: ${ROUNDS} rounds x 8 processes = ${figures.processes}; ok ${figures.ok}, real conflicts ${figures.conflicts}, ` +
        `busy ${figures.busy}, other failures ${figures.other}; slowest ${figures.maxMs} ms, wall ${figures.wallMs} ms`,
    );
    for (const n of NAMES) atomicHost(['uninstall', n]);
  });

  function round(r: number): string[][] {
    const [a, b, c] = NAMES;
    const mixes: string[][][] = [
      [
        ['install', '--system', '--name', a, 'systest'],
        ['install', '--system', '--name', a, 'systest'],
        ['install', '--system', '--name', b, 'systest-update'],
        ['containers', 'update', '--set', `PORT=${9100 + r}`, a],
        ['pull', `oci:${fx}/oci:systest-update`],
        ['images', 'prune'],
        ['uninstall', c],
        ['install', '--system', '--name', c, 'systest'],
      ],
      [
        ['containers', 'update', '--rebase', 'systest-update', a],
        ['containers', 'update', '--set', `RECEIVER=R${r}`, b],
        ['uninstall', b],
        ['images', 'prune'],
        ['images', 'prune'],
        ['containers', 'rollback', a],
        ['install', '--system', '--name', c, `oci:${fx}/oci-zstd:systest`],
        ['pull', `oci:${fx}/oci:systest`],
      ],
    ];
    return mixes[r % mixes.length];
  }

  it(`${ROUNDS} rounds serialize on the locks; the store and deployments are consistent`, async () => {
    const t0 = Date.now();
    for (let r = 0; r < ROUNDS; r++) {
      const cmds = round(r);
      const results: [string[], Run, number][] = await Promise.all(
        cmds.map(async (c): Promise<[string[], Run, number]> => {
          const s = Date.now();
          const res = await spawnAtomic(c, { ATOMIC_LOCK_TIMEOUT: '120' });
          return [c, res, Date.now() - s];
        }),
      );
      for (const [c, res, ms] of results) {
        figures.processes++;
        figures.maxMs = Math.max(figures.maxMs, ms);
        if (res.status === 0) figures.ok++;
        else if (res.status === 4 || /is busy|LOCK_BUSY/.test(res.stderr)) figures.busy++;
        else if (CONFLICT.test(res.stderr + res.stdout)) figures.conflicts++;
        else {
          figures.other++;
          otherFailures.push(`round ${r}: atomic ${c.join(' ')} → ${res.status}: ${res.stderr.trim()}`);
        }
      }
      // after each round: every container complete or absent, the store clean
      for (const n of NAMES) {
        const st = deployState('/', n);
        assert.deepEqual(st.problems, [], `round ${r}: ${n}`);
      }
      const f = ostreeFsck(REPO);
      assert.equal(f.status, 0, `round ${r}: ostree fsck: ${f.stderr}`);
      // no deployment lost its image: the image commit and every layer ref it names still exist
      for (const d of fs.readdirSync(CK).filter((x) => /\.[01]$/.test(x))) {
        const info = JSON.parse(fs.readFileSync(path.join(CK, d, 'info'), 'utf8')) as { 'ostree-commit': string };
        const man = sh('ostree', ['cat', `--repo=${REPO}`, info['ostree-commit'], '/manifest/manifest.json']);
        assert.equal(man.status, 0, `round ${r}: ${d}: image commit ${info['ostree-commit']} gone: ${man.stderr}`);
        const m = JSON.parse(man.stdout) as { layers: { digest: string }[]; config: { digest: string } };
        for (const l of [...m.layers, m.config]) {
          const ref = `ociimage/${l.digest.replace(/^sha256:/, '')}`;
          assert.equal(sh('ostree', ['rev-parse', `--repo=${REPO}`, ref]).status, 0, `round ${r}: ${d} uses ${ref}, which prune removed`);
        }
      }
    }
    figures.wallMs = Date.now() - t0;
    assert.deepEqual(otherFailures, []);
    assert.equal(figures.busy, 0, 'with a 120 s lock timeout nothing should give up');
  });
});
