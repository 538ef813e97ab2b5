/**
 * host/unit-enable.ts creates the links of `systemctl --root=ROOT enable NAME.service` itself. The
 * oracle is the real systemctl, on twin sysroots: for each unit file and starting tree, the real
 * `systemctl --root=A enable` runs on A and our Systemd.enable (which uses our links when it is sure,
 * else runs systemctl) on B; the trees must come out identical (names, types, modes, link targets),
 * and so must the outcome (success or failure). Then the real `systemctl disable` runs on both and
 * the trees must again be identical (uninstall removes our links exactly as it removes systemctl's).
 * The shapes we handle must be handled by us (no systemctl started), the others by systemctl.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Systemd } from '../../../src/host/systemd.js';
import { planOfflineEnable, parseInstallSection } from '../../../src/host/unit-enable.js';
import { offlineEnableVerified, treeListing, twinRunMatches } from '../../../src/host/enable-verify.js';
import { makeTempDir } from '../../helpers/fixtures.js';

type Setup = (root: string) => void;
const CFG = 'etc/systemd/system';
const write =
  (rel: string, text: string): Setup =>
  (root) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };
const link =
  (rel: string, target: string): Setup =>
  (root) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.symlinkSync(target, path.join(root, rel));
  };
const dir =
  (rel: string): Setup =>
  (root) => {
    fs.mkdirSync(path.join(root, rel), { recursive: true });
  };

const SVC = '[Unit]\nDescription=c\n\n[Service]\nExecStart=/bin/true\n\n';
interface Case {
  what: string;
  install: string;
  setup?: Setup[];
  /** We create the links (true), or systemctl runs (false). */
  ours: boolean;
}

const cases: Case[] = [
  { what: 'WantedBy=multi-user.target (the generated unit)', install: '[Install]\nWantedBy=multi-user.target\n', ours: true },
  { what: 'several WantedBy, on one line and several', install: '[Install]\nWantedBy=a.target b.target\nWantedBy=c.target\n', ours: true },
  { what: 'RequiredBy and WantedBy of the same target', install: '[Install]\nRequiredBy=x.target\nWantedBy=x.target\n', ours: true },
  { what: 'Alias (two) with WantedBy', install: '[Install]\nAlias=other.service third.service\nWantedBy=multi-user.target\n', ours: true },
  { what: 'an empty assignment resets the list', install: '[Install]\nWantedBy=gone.target\nWantedBy=\nWantedBy=kept.target\n', ours: true },
  {
    what: 'duplicates, whitespace and comments',
    install: '[Install]\n# WantedBy=commented.target\n; also a comment\n  WantedBy =  a.target   a.target \nRequiredBy=a.target\n',
    ours: true,
  },
  { what: 'two [Install] sections accumulate', install: '[Install]\nWantedBy=a.target\n[X-Other]\nWantedBy=no.target\n[Install]\nWantedBy=b.target\n', ours: true },
  { what: 'no [Install] section', install: '', ours: true },
  {
    what: 'an existing .wants directory',
    install: '[Install]\nWantedBy=multi-user.target\n',
    setup: [dir(`${CFG}/multi-user.target.wants`), link(`${CFG}/multi-user.target.wants/other.service`, '/etc/systemd/system/other.service')],
    ours: true,
  },
  {
    what: 'the link already there (re-enable)',
    install: '[Install]\nWantedBy=multi-user.target\n',
    setup: [link(`${CFG}/multi-user.target.wants/c.service`, '/etc/systemd/system/c.service')],
    ours: true,
  },
  {
    what: 'a conflicting existing link',
    install: '[Install]\nWantedBy=multi-user.target\n',
    setup: [link(`${CFG}/multi-user.target.wants/c.service`, '/lib/systemd/system/c.service')],
    ours: false,
  },
  { what: 'a relative existing link', install: '[Install]\nWantedBy=multi-user.target\n', setup: [link(`${CFG}/multi-user.target.wants/c.service`, '../c.service')], ours: false },
  { what: 'an alias that is an existing unit file', install: '[Install]\nAlias=taken.service\n', setup: [write(`${CFG}/taken.service`, SVC)], ours: false },
  { what: 'a .wants that is a file', install: '[Install]\nWantedBy=multi-user.target\n', setup: [write(`${CFG}/multi-user.target.wants`, '')], ours: false },
  { what: 'a template target (WantedBy=foo@.target)', install: '[Install]\nWantedBy=foo@.target\n', ours: false },
  { what: 'an instance target (WantedBy=foo@bar.target)', install: '[Install]\nWantedBy=foo@bar.target\n', ours: false },
  { what: 'an instance alias (refused by systemctl)', install: '[Install]\nAlias=c@x.service\n', ours: false },
  { what: 'an alias of another type (refused by systemctl)', install: '[Install]\nAlias=c.socket\n', ours: false },
  {
    what: 'Also=',
    install: '[Install]\nWantedBy=multi-user.target\nAlso=helper.service\n',
    setup: [write(`${CFG}/helper.service`, `${SVC}[Install]\nWantedBy=helper.target\n`)],
    ours: false,
  },
  { what: 'DefaultInstance= on a plain unit', install: '[Install]\nWantedBy=multi-user.target\nDefaultInstance=x\n', ours: false },
  { what: 'a specifier (%N)', install: '[Install]\nWantedBy=%N.target\n', ours: false },
  { what: 'a quoted value', install: '[Install]\nWantedBy="a.target"\n', ours: false },
  { what: 'a line continuation', install: '[Install]\nWantedBy=a.target \\\n b.target\n', ours: false },
  { what: 'a continuation swallowing the section header', install: 'Environment=X=1 \\\n[Install]\nWantedBy=a.target\n', ours: false },
  { what: 'a drop-in adding [Install]', install: '[Install]\nWantedBy=a.target\n', setup: [write(`${CFG}/c.service.d/x.conf`, '[Install]\nWantedBy=b.target\n')], ours: false },
  {
    what: 'a drop-in in /usr/lib',
    install: '[Install]\nWantedBy=a.target\n',
    setup: [write('usr/lib/systemd/system/c.service.d/x.conf', '[Install]\nWantedBy=b.target\n')],
    ours: false,
  },
  {
    what: 'a unit of the same name in system.control',
    install: '[Install]\nWantedBy=a.target\n',
    setup: [write('etc/systemd/system.control/c.service', `${SVC}[Install]\nWantedBy=b.target\n`)],
    ours: false,
  },
  { what: 'a symlinked /etc/systemd/system', install: '[Install]\nWantedBy=a.target\n', setup: [], ours: false },
];

describe('host/unit-enable: our `systemctl --root enable` links on twin sysroots (oracle: systemctl)', function () {
  this.timeout(300_000);
  let work: string;
  let cacheDir: string;
  before(() => {
    work = makeTempDir('atomic-unit-enable-');
    cacheDir = path.join(work, 'cache');
    fs.mkdirSync(cacheDir, { mode: 0o700 });
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('this host systemctl matches our rules (the twin probe run of host/enable-verify.ts)', () => {
    assert.equal(twinRunMatches('systemctl', path.join(work, 'probe')), true);
    assert.equal(offlineEnableVerified('systemctl', cacheDir), true);
    assert.ok(fs.readFileSync(path.join(cacheDir, 'systemctl-probe.json'), 'utf8').includes('true'));
  });

  cases.forEach((c, i) => {
    it(`${c.what}: ${c.ours ? 'our links' : 'systemctl'}, same tree as systemctl, same after disable`, () => {
      const roots = ['real', 'ours'].map((s) => path.join(work, `${i}-${s}`));
      for (const root of roots) {
        if (c.what.startsWith('a symlinked')) {
          fs.mkdirSync(path.join(root, 'etc', 'systemd', 'elsewhere'), { recursive: true });
          fs.symlinkSync('elsewhere', path.join(root, 'etc', 'systemd', 'system'));
        } else fs.mkdirSync(path.join(root, CFG), { recursive: true });
        fs.writeFileSync(path.join(root, CFG, 'c.service'), SVC + c.install);
        for (const s of c.setup ?? []) s(root);
      }
      const [real, ours] = roots;
      const planned = planOfflineEnable(ours, 'c.service');
      assert.equal(planned !== null, c.ours, `planOfflineEnable ${planned ? 'planned' : 'declined'}`);
      const r = spawnSync('systemctl', [`--root=${real}`, 'enable', 'c.service'], { encoding: 'utf8' });
      const echoed: string[] = [];
      const sd = new Systemd({ sysroot: ours, user: false, echo: (l) => echoed.push(l), cacheDir });
      let failed = false;
      let started: boolean | null = null;
      try {
        started = sd.enable('c.service');
      } catch {
        failed = true;
      }
      if (!failed) assert.equal(started, !c.ours, started ? 'systemctl was started' : 'systemctl was not started');
      assert.deepEqual(echoed, [`systemctl --root=${ours} enable c.service`]);
      assert.equal(failed, r.status !== 0, `systemctl exit ${r.status} (${r.stderr.trim()}), ours ${failed ? 'failed' : 'succeeded'}`);
      assert.deepEqual(treeListing(ours), treeListing(real), 'trees after enable');
      if (c.ours && c.install.includes('WantedBy=multi-user')) assert.ok(fs.lstatSync(path.join(ours, CFG, 'multi-user.target.wants', 'c.service')).isSymbolicLink());
      for (const root of roots) spawnSync('systemctl', [`--root=${root}`, 'disable', 'c.service'], { stdio: 'ignore' });
      assert.deepEqual(treeListing(ours), treeListing(real), 'trees after disable');
    });
  });

  it('a systemctl that creates other links is not verified (and its verdict is remembered)', () => {
    // a systemctl of another make: relative links into .wants, as a future version might write
    const bin = path.join(work, 'other-bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(
      path.join(bin, 'systemctl'),
      '#!/bin/sh\nroot=${1#--root=}; unit=$3\nd="$root/etc/systemd/system"\nsed -n "s/^WantedBy=//p" "$d/$unit" | tr " " "\\n" | while read t; do [ -n "$t" ] && mkdir -p "$d/$t.wants" && ln -sfn "../$unit" "$d/$t.wants/$unit"; done\nexit 0\n',
      { mode: 0o755 },
    );
    const dir2 = path.join(work, 'cache2');
    fs.mkdirSync(dir2, { mode: 0o700 });
    assert.equal(offlineEnableVerified(path.join(bin, 'systemctl'), dir2), false);
    const cached = JSON.parse(fs.readFileSync(path.join(dir2, 'systemctl-probe.json'), 'utf8')) as Record<string, boolean>;
    assert.deepEqual(Object.values(cached), [false]);
    assert.equal(offlineEnableVerified(path.join(bin, 'systemctl'), dir2), false);
  });

  it('parseInstallSection: what it accepts and declines', () => {
    assert.deepEqual(parseInstallSection('[Install]\nWantedBy=a.target b.target\nAlias=x.service\nRequiredBy=c.target\n'), {
      wantedBy: ['a.target', 'b.target'],
      requiredBy: ['c.target'],
      alias: ['x.service'],
    });
    assert.deepEqual(parseInstallSection('[Service]\nWantedBy=no.target\n'), { wantedBy: [], requiredBy: [], alias: [] });
    for (const bad of [
      '[Install]\nWantedBy=a.target\r\n',
      '\uFEFF[Install]\n',
      '[Install]\nUpheldBy=a.target\n',
      '[Install]\nWantedBy=a\n',
      '[Install\nWantedBy=a.target\n',
      '.include /x\n',
      '[Install]\nWantedBy\n',
    ]) {
      assert.equal(parseInstallSection(bad), null, JSON.stringify(bad));
    }
  });
});
