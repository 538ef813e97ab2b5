/**
 * Every exports-examples/<name>/ tree is a complete, working system-container image: build it,
 * install it with --system into a scratch --sysroot, check what the docs say it does, uninstall.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, PROJECT_ROOT } from '../../helpers/fixtures.js';
import { atomicSysroot } from '../../helpers/cli.js';
import { buildExampleImage } from '../../helpers/example-image.js';

const CK = 'var/lib/containers/atomic';
const examples = fs.readdirSync(path.join(PROJECT_ROOT, 'exports-examples')).filter((n) => fs.existsSync(path.join(PROJECT_ROOT, 'exports-examples', n, 'image.json'))).sort();

/** Extra checks per example, run after install (S = sysroot, N = container name). */
const checks: Record<string, (S: string, N: string) => void> = {
  'hello-web': (S, N) => {
    assert.match(fs.readFileSync(path.join(S, 'etc/systemd/system', `${N}.service`), 'utf8'), /^Description=hello-web system container ex-hello-web \(port 8080\)$/m);
    assert.ok(fs.statSync(path.join(S, 'run', N)).isDirectory(), 'tmpfiles.template created ${RUN_DIRECTORY}/${NAME}');
  },
  'hello-motd': (S, N) => {
    const motd = fs.readFileSync(path.join(S, 'etc/motd.d', N), 'utf8');
    assert.equal(motd.split('\n')[0], `Welcome! This host runs the system container "${N}" (image example.com/atomic/hello-motd:1.0).`, 'installedFilesTemplate rendered, renameFiles applied');
    const show = path.join(S, 'usr/local/bin', `${N}-show`);
    assert.equal(fs.statSync(show).mode & 0o777, 0o755);
    assert.ok(!fs.statSync(show).nlink || fs.statSync(show).nlink === 1, 'hostfs files are copies, never hardlinks into the store');
    const unit = fs.readFileSync(path.join(S, 'etc/systemd/system', `${N}.service`), 'utf8');
    assert.match(unit, /^Type=oneshot$/m);
    const cfg = JSON.parse(fs.readFileSync(path.join(S, CK, `${N}.0`, 'config.json'), 'utf8')) as { mounts: Array<{ destination: string; source: string }> };
    assert.equal(cfg.mounts.find((m) => m.destination === '/host-motd')?.source, '/etc/motd.d');
  },
};

describe('exports-examples install into a scratch sysroot', function () {
  this.timeout(180_000);
  let work: string;
  before(() => (work = makeTempDir('atomic-examples-')));
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('there are at least two examples, each with a check', () => {
    assert.ok(examples.length >= 2, examples.join(', '));
    for (const e of examples) assert.ok(checks[e], `add a check for exports-examples/${e} to this test`);
  });

  for (const ex of examples) {
    it(`${ex}: builds, installs with --system, and uninstalls without leaving host files`, () => {
      const S = path.join(work, `sysroot-${ex}`);
      for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
      const meta = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'exports-examples', ex, 'image.json'), 'utf8')) as { name: string; tag: string };
      const src = buildExampleImage(ex, work, ex);
      const a = (args: string[]) => atomicSysroot(S, args);
      const p = a(['pull', '--storage', 'ostree', '--name', `${meta.name}:${meta.tag}`, src]);
      assert.equal(p.status, 0, p.stderr);
      const N = `ex-${ex}`;
      const r = a(['install', '--system', '--name', N, `${meta.name}:${meta.tag}`]);
      assert.equal(r.status, 0, r.stderr + r.stdout);
      assert.equal(path.basename(fs.readlinkSync(path.join(S, CK, N))), `${N}.0`);
      assert.ok(fs.existsSync(path.join(S, 'etc/systemd/system', `${N}.service`)));
      checks[ex](S, N);
      const info = a(['info', `${meta.name}:${meta.tag}`]);
      assert.equal(info.status, 0, info.stderr);
      assert.match(info.stdout, /^atomic\.type: system$/m);
      const u = a(['uninstall', N]);
      assert.equal(u.status, 0, u.stderr + u.stdout);
      assert.ok(!fs.existsSync(path.join(S, CK, N)));
      assert.ok(!fs.existsSync(path.join(S, 'etc/systemd/system', `${N}.service`)));
      assert.ok(!fs.existsSync(path.join(S, 'usr/local/bin', `${N}-show`)));
      assert.ok(!fs.existsSync(path.join(S, 'etc/motd.d', N)));
    });
  }

  it('hello-motd: a host file modified after install survives uninstall', () => {
    const S = path.join(work, 'sysroot-motd-modified');
    const src = buildExampleImage('hello-motd', work, 'hello-motd-2');
    const a = (args: string[]) => atomicSysroot(S, args);
    assert.equal(a(['install', '--system', '--name', 'motd', '--set', 'GREETING=Hi', src]).status, 0);
    const f = path.join(S, 'etc/motd.d/motd');
    assert.match(fs.readFileSync(f, 'utf8'), /^Hi! /);
    fs.appendFileSync(f, 'local note\n');
    const u = a(['uninstall', 'motd']);
    assert.equal(u.status, 0, u.stderr);
    assert.match(u.stdout, /Will not delete \/etc\/motd\.d\/motd as it was manually modified\./);
    assert.ok(fs.existsSync(f));
  });
});
