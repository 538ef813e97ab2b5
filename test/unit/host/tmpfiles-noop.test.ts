/**
 * host/tmpfiles-noop.ts decides when `systemd-tmpfiles --create/--remove FILE` may be skipped. The
 * oracle is the real systemd-tmpfiles: for each tmpfiles.d file and starting tree, the tool is run on
 * a copy of the tree, and whenever we say "no-op" the tree (paths, types, modes, owners) must come
 * out of the tool unchanged. The common cases (an update's files) must be recognised as no-ops.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpfilesCreateIsNoOp, tmpfilesRemoveIsNoOp } from '../../../src/host/tmpfiles-noop.js';
import { Systemd } from '../../../src/host/systemd.js';
import { makeTempDir } from '../../helpers/fixtures.js';

/** Every path below ROOT with its type, mode and owner. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d).sort()) {
      const p = path.join(d, e);
      const st = fs.lstatSync(p);
      out.push(`${path.relative(root, p)} ${st.mode.toString(8)} ${st.uid}:${st.gid}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

type Setup = (root: string) => void;
const mk =
  (rel: string, mode: number, uid = 0, gid = 0): Setup =>
  (root) => {
    const p = path.join(root, rel);
    fs.mkdirSync(p, { recursive: true });
    fs.chmodSync(p, mode);
    fs.chownSync(p, uid, gid);
  };
const file =
  (rel: string): Setup =>
  (root) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), 'x');
  };
const link =
  (rel: string, target: string): Setup =>
  (root) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.symlinkSync(target, path.join(root, rel));
  };

interface Case {
  what: string;
  conf: string;
  setup: Setup[];
  create: boolean;
  remove: boolean;
  /** Operations the real tool changes the tree with (checks that the case tests something). */
  changes?: Array<'--create' | '--remove'>;
}

const FIXTURE = 'd    /var/lib/c1   0700      0     0     - -\nd    /run/c1     0700      -               -               - -\n';
const cases: Case[] = [
  { what: 'the fixture file, directories as created', conf: FIXTURE, setup: [mk('var/lib/c1', 0o700), mk('run/c1', 0o700)], create: true, remove: true },
  { what: 'the fixture file, nothing created yet', conf: FIXTURE, setup: [mk('var/lib', 0o755)], create: false, remove: true, changes: ['--create'] },
  { what: 'a directory with another mode', conf: FIXTURE, setup: [mk('var/lib/c1', 0o755), mk('run/c1', 0o700)], create: false, remove: true, changes: ['--create'] },
  { what: 'a directory with another owner', conf: FIXTURE, setup: [mk('var/lib/c1', 0o700, 1, 0), mk('run/c1', 0o700)], create: false, remove: true, changes: ['--create'] },
  { what: 'a directory with another group', conf: FIXTURE, setup: [mk('var/lib/c1', 0o700, 0, 7), mk('run/c1', 0o700)], create: false, remove: true, changes: ['--create'] },
  { what: 'a file where the directory goes', conf: FIXTURE, setup: [mk('var/lib/c1', 0o700), file('run/c1')], create: false, remove: true },
  { what: 'a symlinked parent', conf: 'd /var/run/x 0755 - - -\n', setup: [mk('run/x', 0o755), link('var/run', '../run')], create: false, remove: true },
  { what: 'default mode', conf: 'd /srv/a - - - -\n', setup: [mk('srv/a', 0o755)], create: true, remove: true },
  { what: 'default mode, existing 0700', conf: 'd /srv/a\n', setup: [mk('srv/a', 0o700)], create: false, remove: true },
  { what: 'comments and blank lines', conf: '# c\n\nd /srv/a 0750 0 0 10d\n', setup: [mk('srv/a', 0o750)], create: true, remove: true },
  { what: 'a D line', conf: 'D /srv/a 0755 0 0 -\n', setup: [mk('srv/a', 0o755), file('srv/a/f')], create: false, remove: false, changes: ['--remove'] },
  { what: 'an R line', conf: 'R /srv/a - - - -\n', setup: [mk('srv/a', 0o755), file('srv/a/f')], create: false, remove: false, changes: ['--remove'] },
  { what: 'an r line', conf: 'r /srv/f\n', setup: [file('srv/f')], create: false, remove: false, changes: ['--remove'] },
  { what: 'an f line', conf: 'f /srv/f 0644 0 0 - hello\n', setup: [mk('srv', 0o755)], create: false, remove: true, changes: ['--create'] },
  { what: 'a specifier', conf: 'd /srv/%m 0755 0 0 -\n', setup: [mk('srv', 0o755)], create: false, remove: true },
  { what: 'a boot-only line', conf: 'd! /srv/a 0755 0 0 -\n', setup: [mk('srv/a', 0o755)], create: false, remove: true },
];

describe('host/tmpfiles-noop: skipping systemd-tmpfiles calls that change nothing (oracle: systemd-tmpfiles)', function () {
  this.timeout(120_000);
  let work: string;
  before(() => {
    work = makeTempDir('atomic-tmpfiles-noop-');
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  cases.forEach((c, i) => {
    it(`${c.what}: create ${c.create ? 'no-op' : 'runs'}, remove ${c.remove ? 'no-op' : 'runs'}`, () => {
      for (const op of ['--create', '--remove'] as const) {
        const root = path.join(work, `${i}${op}`);
        fs.mkdirSync(path.join(root, 'etc', 'tmpfiles.d'), { recursive: true });
        for (const s of c.setup) s(root);
        const conf = path.join(root, 'etc', 'tmpfiles.d', 'c.conf');
        fs.writeFileSync(conf, c.conf);
        const ours = op === '--create' ? tmpfilesCreateIsNoOp(conf, root) : tmpfilesRemoveIsNoOp(conf);
        assert.equal(ours, op === '--create' ? c.create : c.remove, `${op} verdict`);
        const before = snapshot(root);
        spawnSync('systemd-tmpfiles', [`--root=${root}`, op, conf], { stdio: 'ignore' });
        const after = snapshot(root);
        if (ours) assert.deepEqual(after, before, `${op} said no-op but systemd-tmpfiles changed the tree`);
        if (c.changes?.includes(op)) assert.notDeepEqual(after, before, `${op}: systemd-tmpfiles should have changed the tree`);
      }
    });
  });

  it('an unreadable file is never a no-op', () => {
    assert.equal(tmpfilesCreateIsNoOp(path.join(work, 'nosuch.conf'), work), false);
    assert.equal(tmpfilesRemoveIsNoOp(path.join(work, 'nosuch.conf')), false);
  });
});

/**
 * A --create that only makes missing directories is done by us (Systemd.tmpfilesCreate); the oracle
 * is systemd-tmpfiles on a twin tree: both trees must come out identical (paths, types, modes, owners).
 */
interface CreateCase {
  what: string;
  conf: string;
  setup: Setup[];
  /** We create (true), or the tool runs (false). */
  ours: boolean;
}
const setgid =
  (rel: string): Setup =>
  (root) => {
    fs.chmodSync(path.join(root, rel), 0o2775);
  };
const createCases: CreateCase[] = [
  { what: 'the fixture file, nothing created yet', conf: FIXTURE, setup: [mk('var/lib', 0o755), mk('run', 0o755)], ours: true },
  { what: 'the fixture file, one directory already there', conf: FIXTURE, setup: [mk('var/lib/c1', 0o700), mk('run', 0o755)], ours: true },
  { what: 'default mode and owners', conf: 'd /srv/a - - - -\nd /srv/b\n', setup: [mk('srv', 0o755)], ours: true },
  { what: 'sticky mode, numeric owner and group', conf: 'd /srv/a 1777 1 2 -\n', setup: [mk('srv', 0o755)], ours: true },
  { what: 'group only', conf: 'd /srv/a 0750 - 7 -\n', setup: [mk('srv', 0o755)], ours: true },
  { what: 'owner only', conf: 'd /srv/a 0750 5 - -\n', setup: [mk('srv', 0o755)], ours: true },
  { what: 'a parent with another owner', conf: 'd /srv/a 0700 0 0 -\n', setup: [mk('srv', 0o750, 3, 4)], ours: true },
  { what: 'a missing parent', conf: FIXTURE, setup: [mk('run', 0o755)], ours: false },
  { what: 'a set-group-ID parent', conf: 'd /srv/a 0755 - - -\n', setup: [mk('srv', 0o755, 0, 7), setgid('srv')], ours: false },
  { what: 'an existing directory with another mode', conf: 'd /srv/a 0700 0 0 -\n', setup: [mk('srv/a', 0o755)], ours: false },
  { what: 'a path listed twice', conf: 'd /srv/a 0700 0 0 -\nd /srv/a 0755 0 0 -\n', setup: [mk('srv', 0o755)], ours: false },
  { what: 'a parent created by the same file', conf: 'd /srv/a 0700 0 0 -\nd /srv/a/b 0700 0 0 -\n', setup: [mk('srv', 0o755)], ours: false },
  { what: 'a symlinked parent', conf: 'd /var/run/x 0755 - - -\n', setup: [mk('run', 0o755), link('var/run', '../run')], ours: false },
  { what: 'an f line', conf: 'f /srv/f 0644 0 0 - hello\n', setup: [mk('srv', 0o755)], ours: false },
  { what: 'a user name', conf: 'd /srv/a 0755 root root -\n', setup: [mk('srv', 0o755)], ours: false },
];

describe('host/systemd tmpfilesCreate: missing directories made by us on twin trees (oracle: systemd-tmpfiles)', function () {
  this.timeout(120_000);
  let work: string;
  before(() => {
    work = makeTempDir('atomic-tmpfiles-create-');
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  createCases.forEach((c, i) => {
    it(`${c.what}: ${c.ours ? 'made by us' : 'the tool runs'}, same tree`, () => {
      const roots = ['tool', 'ours'].map((s) => path.join(work, `${i}-${s}`));
      for (const root of roots) {
        fs.mkdirSync(path.join(root, 'etc', 'tmpfiles.d'), { recursive: true });
        for (const s of c.setup) s(root);
        fs.writeFileSync(path.join(root, 'etc', 'tmpfiles.d', 'c.conf'), c.conf);
      }
      const [tool, ours] = roots;
      spawnSync('systemd-tmpfiles', [`--root=${tool}`, '--create', path.join(tool, 'etc', 'tmpfiles.d', 'c.conf')], { stdio: 'ignore' });
      const echoed: string[] = [];
      const conf = path.join(ours, 'etc', 'tmpfiles.d', 'c.conf');
      const started = new Systemd({ sysroot: ours, user: false, echo: (l) => echoed.push(l) }).tmpfilesCreate(conf);
      assert.deepEqual(echoed, [`systemd-tmpfiles --root=${ours} --create ${conf}`]);
      assert.equal(started, !c.ours, started ? 'systemd-tmpfiles was started' : 'systemd-tmpfiles was not started');
      assert.deepEqual(snapshot(ours), snapshot(tool));
    });
  });
});
