/**
 * Attacks on the option records and the image's readiness check through the CLI in a scratch
 * --sysroot (docs/security.md): a masked or hand-written unit where the record's timers go, a
 * symlinked NAME.service.d, hostile host record files, `..` in MountPath, an image whose
 * healthCheck probes another machine. Each is refused with its exit code before anything is
 * written, and the admin's files are left as they were.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fixtureImages } from '../../helpers/fixtures.js';
import { atomicSysroot, makeSysroot, okSysroot } from '../../helpers/cli.js';
import { buildExampleImage } from '../../helpers/example-image.js';

describe('hostile option records and image health checks in a scratch sysroot', function () {
  this.timeout(300_000);
  let work: string;
  let S: string;
  let IMG: string;
  const a = (args: string[]) => atomicSysroot(S, args);
  const ok = (args: string[]): string => okSysroot(S, args);
  const etc = (...p: string[]) => path.join(S, 'etc', ...p);
  const unitDir = (...p: string[]) => etc('systemd/system', ...p);
  const CK = (...p: string[]) => path.join(S, 'var/lib/containers/atomic', ...p);
  const refused = (args: string[], status: number, re: RegExp, name: string): void => {
    const r = a(args);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}${r.stdout}`);
    assert.match(r.stderr, re);
    assert.ok(!fs.existsSync(CK(`${name}.0`)) && !fs.existsSync(CK(name)), `the refused install of ${name} wrote no deployment`);
    assert.ok(!fs.existsSync(unitDir(`${name}.service`)), `the refused install of ${name} wrote no unit`);
  };

  before(() => {
    IMG = `oci:${fixtureImages()}/oci:systest`;
    ({ work, S } = makeSysroot('atomic-hostile-options-'));
    ok(['pull', IMG]);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('a masked atomic-start-NAME.timer (a symlink to /dev/null) is not unmasked: install with StartAt is refused, exit 6', () => {
    fs.symlinkSync('/dev/null', unitDir('atomic-start-m1.timer'));
    refused(
      ['install', '--system', '--name', 'm1', '--option', 'StartAt=*-*-* 06:00', IMG],
      6,
      /atomic-start-m1\.timer is a symlink \(to \/dev\/null: the unit is masked\); the option record of m1 needs that file/,
      'm1',
    );
    assert.equal(fs.readlinkSync(unitDir('atomic-start-m1.timer')), '/dev/null');
  });

  it("a hand-written atomic-stop-NAME.timer is not overwritten: install with StopAt is refused, exit 2; the admin's file stays", () => {
    fs.writeFileSync(unitDir('atomic-stop-m2.timer'), '# mine\n[Timer]\nOnCalendar=hourly\n');
    refused(['install', '--system', '--name', 'm2', '--option', 'StopAt=*-*-* 22:00', IMG], 2, /atomic-stop-m2\.timer exists and was not written by atomic/, 'm2');
    assert.equal(fs.readFileSync(unitDir('atomic-stop-m2.timer'), 'utf8'), '# mine\n[Timer]\nOnCalendar=hourly\n');
  });

  it('a NAME.service.d that is a symlink to a host directory is not written through: exit 6, the directory stays empty', () => {
    const outside = path.join(work, 'outside-etc');
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, unitDir('m3.service.d'));
    refused(
      ['install', '--system', '--name', 'm3', '--option', 'MaxMemory=64', IMG],
      6,
      /m3\.service\.d is a symlink .*; atomic will not write 50-atomic-options\.conf of m3's option record through it/,
      'm3',
    );
    assert.deepEqual(fs.readdirSync(outside), []);
  });

  it('a timer replaced by the admin after install is neither overwritten by a record change nor deleted when the key goes', () => {
    ok(['install', '--system', '--name', 'm4', '--option', 'StartAt=*-*-* 06:00', IMG]);
    const mine = '# the admin took this timer over\n[Timer]\nOnCalendar=*-*-* 07:00\nUnit=m4.service\n';
    fs.writeFileSync(unitDir('atomic-start-m4.timer'), mine);
    const link = fs.readlinkSync(CK('m4'));
    const r = a(['containers', 'config', 'm4', 'StartAt=*-*-* 05:00']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /atomic-start-m4\.timer exists and was not written by atomic/);
    assert.equal(fs.readlinkSync(CK('m4')), link, 'the refused change deployed nothing');
    const u = a(['containers', 'config', 'm4', '--unset', 'StartAt']);
    assert.equal(u.status, 0, u.stderr);
    assert.match(u.stdout, /Will not delete .*atomic-start-m4\.timer: it was not written by atomic/);
    assert.equal(fs.readFileSync(unitDir('atomic-start-m4.timer'), 'utf8'), mine);
    // and a rollback to the record with StartAt does not overwrite it either
    const rb = a(['containers', 'rollback', 'm4']);
    assert.equal(rb.status, 2, rb.stderr);
    assert.match(rb.stderr, /atomic-start-m4\.timer exists and was not written by atomic/);
    assert.equal(fs.readFileSync(unitDir('atomic-start-m4.timer'), 'utf8'), mine);
  });

  it('hostile host record files: FIFO, /dev/zero, huge, NUL, non-UTF-8, duplicate keys, ".." in MountPath: exit 2, nothing written', () => {
    const conf = (n: string) => etc('containers/atomic', `${n}.conf`);
    fs.mkdirSync(etc('containers/atomic'), { recursive: true });
    assert.equal(spawnSync('mkfifo', [conf('h1')]).status, 0);
    refused(['install', '--system', '--name', 'h1', IMG], 2, /h1\.conf: is not a regular file/, 'h1');
    fs.symlinkSync('/dev/zero', conf('h2'));
    refused(['install', '--system', '--name', 'h2', IMG], 2, /h2\.conf: is not a regular file/, 'h2');
    fs.writeFileSync(conf('h3'), `MaxMemory=64\n${'#'.repeat(70_000)}\n`);
    refused(['install', '--system', '--name', 'h3', IMG], 2, /h3\.conf: is 70014 bytes; an option record is at most 65536 bytes/, 'h3');
    fs.writeFileSync(conf('h4'), 'MaxMemory=64\ncpu=5\u00000\n');
    refused(['install', '--system', '--name', 'h4', IMG], 2, /h4\.conf: line 2 contains a NUL byte/, 'h4');
    fs.writeFileSync(conf('h5'), Buffer.from('cpu=50\n# caf\xe9\n', 'latin1'));
    refused(['install', '--system', '--name', 'h5', IMG], 2, /h5\.conf: is not valid UTF-8/, 'h5');
    fs.writeFileSync(conf('h6'), '[h6]\r\nMaxMemory=64\r\nmaxmemory=2G\r\n');
    refused(['install', '--system', '--name', 'h6', IMG], 2, /h6\.conf:3: MaxMemory is set twice \(lines 2 and 3\)/, 'h6');
    fs.writeFileSync(conf('h7'), 'MountPath=/srv/../etc:/data\n');
    refused(['install', '--system', '--name', 'h7', IMG], 2, /MountPath=\/srv\/\.\.\/etc:\/data: the host path "\/srv\/\.\.\/etc" is not a clean absolute path/, 'h7');
    // the refused files are left as the admin wrote them
    assert.equal(fs.readlinkSync(conf('h2')), '/dev/zero');
    assert.ok(fs.lstatSync(conf('h1')).isFIFO());
    assert.equal(fs.readFileSync(conf('h6'), 'utf8'), '[h6]\r\nMaxMemory=64\r\nmaxmemory=2G\r\n');
  });

  it('an image whose manifest healthCheck probes another machine is refused (exit 6) unless the admin gives the check', () => {
    const src = buildExampleImage('hello-web', work, 'probe-elsewhere', (d) => {
      const mf = path.join(d, 'rootfs/exports/manifest.json');
      const m = JSON.parse(fs.readFileSync(mf, 'utf8')) as Record<string, unknown>;
      m.healthCheck = { type: 'http', url: 'http://169.254.169.254/latest/meta-data/' };
      fs.writeFileSync(mf, JSON.stringify(m));
    });
    ok(['pull', src]);
    refused(
      ['install', '--system', '--name', 'p1', src],
      6,
      /healthCheck of .*hello-web.* would connect to "http:\/\/169\.254\.169\.254\/latest\/meta-data\/", which is not this host's loopback/,
      'p1',
    );
    ok(['install', '--system', '--name', 'p1', '--health-check', 'tcp:127.0.0.1:8080', src]);
    assert.equal((JSON.parse(fs.readFileSync(CK('p1.0', 'health-check.json'), 'utf8')) as { address: string }).address, '127.0.0.1:8080');
  });
  it('a symlink at atomic-auto-update.timer pointing at a host file is neither followed nor replaced, by install or uninstall', () => {
    const hostFile = path.join(work, 'precious-host-file');
    fs.writeFileSync(hostFile, 'precious\n');
    fs.symlinkSync(hostFile, unitDir('atomic-auto-update.timer'));
    const r = a(['install', '--system', '--auto-update', '--name', 'au1', IMG]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /atomic-auto-update\.timer was not written by atomic .*it is left as it is/);
    assert.ok(fs.existsSync(unitDir('atomic-auto-update.service')), 'the service (absent before) is written');
    ok(['uninstall', 'au1']);
    assert.equal(fs.readlinkSync(unitDir('atomic-auto-update.timer')), hostFile);
    assert.equal(fs.readFileSync(hostFile, 'utf8'), 'precious\n');
    assert.ok(!fs.existsSync(unitDir('atomic-auto-update.service')), 'the service atomic wrote goes with the last auto-update container');
  });
  it("an image's defaultValues ATOMIC does not choose the command atomic's network drop-in runs on the host", () => {
    const src = buildExampleImage('hello-web', work, 'atomic-override', (d) => {
      const mf = path.join(d, 'rootfs/exports/manifest.json');
      const m = JSON.parse(fs.readFileSync(mf, 'utf8')) as { defaultValues: Record<string, string> };
      m.defaultValues.ATOMIC = '/bin/sh -c "touch /pwned" #';
      fs.writeFileSync(mf, JSON.stringify(m));
    });
    ok(['pull', src]);
    ok(['install', '--system', '--name', 'n1', '--option', 'network=bridge', src]);
    const dropIn = fs.readFileSync(unitDir('n1.service.d/50-atomic-options.conf'), 'utf8');
    assert.doesNotMatch(dropIn, /pwned/);
    assert.match(dropIn, /^ExecStartPre=.*bin\/run\.js containers network attach n1$/m);
  });
});
