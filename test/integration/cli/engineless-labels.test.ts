/**
 * Engine-less label installers (SCMI's design, src/app/labels/engineless.ts): an image whose
 * install/uninstall labels are `docker run ...` in centos-ssh's exact form, with a shell `scmi`
 * installer inside, installs and uninstalls on a host without docker or podman (the engine lookup
 * is pointed at an empty directory with ATOMIC_ENGINE_PATH): the image is run with runc from our
 * store, `--volume /:/media/root` binds the (sys)root, and scmi writes its unit there. With an
 * engine on the PATH the label runs through it as before. Root and runc only.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, makeTempDir } from '../../helpers/fixtures.js';
import { atomicSysroot } from '../../helpers/cli.js';
import { scmiImage, scmiLabel } from '../../helpers/scmi-image.js';
import { requireRootAndRuntime } from '../../helpers/runtime-required.js';
import { shellWords, parseEngineRun } from '../../../src/app/labels/engineless.js';

describe('engine-less label commands: parsing', () => {
  it('splits the command as sh would and parses docker run options', () => {
    const w = shellWords(`docker run -it --rm --privileged -v /:/media/root:ro -e A=1 --env=B --net host --pid=host -w /x --name $NAME img:1 /bin/s --opt='a b' "$IMAGE"`, {
      NAME: 'n1',
      IMAGE: 'img',
    });
    assert.deepEqual(w?.slice(-3), ['/bin/s', '--opt=a b', 'img']);
    const r = parseEngineRun(w!);
    assert.ok(r);
    assert.deepEqual(
      [r.rm, r.privileged, r.tty, r.interactive, r.network, r.pidHost, r.ipcHost, r.workdir, r.name, r.image],
      [true, true, true, true, 'host', true, false, '/x', 'n1', 'img:1'],
    );
    assert.deepEqual(r.volumes, [{ source: '/', destination: '/media/root', readonly: true }]);
    assert.deepEqual(r.env, ['A=1', 'B']);
    assert.equal(parseEngineRun(shellWords('/bin/sh -c true', {})!), null);
    assert.equal(parseEngineRun(shellWords('podman images', {})!), null);
    assert.equal(shellWords('docker run img | tee x', {}), null, 'a pipeline is not a plain docker run');
    assert.throws(() => parseEngineRun(shellWords('docker run --cap-add NET_ADMIN -p 80:80 img', {})!), /not supported without a container engine: --cap-add, -p/);
    assert.throws(() => parseEngineRun(shellWords('docker run -v data:/data img', {})!), /named and anonymous volumes need docker/);
    assert.throws(() => parseEngineRun(shellWords('podman run --pid=container:x img', {})!), /--pid=container:x: only "host"/);
  });
});

describe('engine-less label installers: an SCMI-like image (runc, root)', function () {
  this.timeout(180_000);
  before(() => requireRootAndRuntime());
  let work: string;
  let S: string;
  let noEngine: Record<string, string>;
  const a = (args: string[], extra: Record<string, string> = noEngine) => atomicSysroot(S, args, extra);
  const unit = () => path.join(S, 'etc/systemd/system/centos-ssh.ssh.3.service');

  before(() => {
    work = makeTempDir('atomic-engineless-');
    S = path.join(work, 'sysroot');
    fs.mkdirSync(path.join(S, 'etc'), { recursive: true });
    fs.mkdirSync(path.join(work, 'empty'));
    noEngine = { ATOMIC_ENGINE_PATH: path.join(work, 'empty') };
    const src = scmiImage(work, 'scmi-test', { install: scmiLabel('install', 'scmi-test:latest'), uninstall: scmiLabel('uninstall', 'scmi-test:latest') });
    assert.equal(a(['pull', src]).status, 0);
    const bad = scmiImage(work, 'scmi-bad', { install: 'docker run --rm --cap-add SYS_ADMIN scmi-bad:latest /usr/sbin/scmi install' });
    assert.equal(a(['pull', bad]).status, 0);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('--display shows the command and that atomic runs it with runc', () => {
    const r = a(['install', '-n', 'ssh.3', '--display', 'scmi-test:latest', '--manager=systemd']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^docker run --rm --privileged --volume \/:\/media\/root scmi-test:latest \/usr\/sbin\/scmi install --chroot=\/media\/root --name=ssh\.3 --tag=1\.0 --setopt='--volume \{\{NAME\}\}\.config-ssh:\/etc\/ssh' --manager=systemd$/m,
    );
    assert.match(r.stdout, /^# no docker or podman on this host: atomic runs this docker run itself, with \S*runc in the foreground:$/m);
    assert.match(r.stdout, new RegExp(`^#   bind ${S.replace(/[.]/g, '\\.')} -> /media/root$`, 'm'));
    assert.match(r.stdout, /privileged \(all capabilities, host devices\)/);
    assert.ok(!fs.existsSync(unit()));
  });

  it("install -n ssh.3 IMAGE --info prints the installer's info and installs nothing", () => {
    const r = a(['install', '-n', 'ssh.3', 'scmi-test:latest', '--info']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^Name: ssh\.3$/m);
    assert.match(r.stdout, /^Tag: 1\.0$/m);
    assert.match(r.stdout, /^Options: --volume ssh\.3\.config-ssh:\/etc\/ssh$/m);
    assert.ok(!fs.existsSync(unit()));
  });

  it('install writes its unit into the (sys)root, run privileged by runc; uninstall removes it', () => {
    const r = a(['install', '-n', 'ssh.3', 'scmi-test:latest', '--manager=systemd']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const m = /---> Installed \/media\/root\/etc\/systemd\/system\/centos-ssh\.ssh\.3\.service \(running as uid 0, privileged: CapEff:\s+([0-9a-f]+)\)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.ok((BigInt(`0x${m[1]}`) >> 21n) & 1n, `--privileged grants CAP_SYS_ADMIN (CapEff ${m[1]})`);
    const text = fs.readFileSync(unit(), 'utf8');
    assert.match(text, /^ExecStart=\/usr\/bin\/docker run --name ssh\.3 --volume ssh\.3\.config-ssh:\/etc\/ssh jdeathe\/centos-ssh:1\.0$/m);
    const u = a(['uninstall', '-n', 'ssh.3', 'scmi-test:latest']);
    assert.equal(u.status, 0, u.stderr + u.stdout);
    assert.match(u.stdout, /---> Uninstalled/);
    assert.ok(!fs.existsSync(unit()));
    const left = path.join(S, 'var/lib/containers/atomic/.storage/ostree/tmp/atomic-container');
    assert.deepEqual(fs.existsSync(left) ? fs.readdirSync(left) : [], [], 'no work dir left');
  });

  it('an option it cannot honour is refused, naming it; nothing runs', () => {
    const r = a(['install', '-n', 'bad', 'scmi-bad:latest']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /docker run option\(s\) not supported without a container engine: --cap-add/);
  });

  it('with docker on the PATH the label is run by it, as before', () => {
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'docker'), `#!/bin/sh\nprintf '%s\\n' "$@" > ${work}/docker-args.txt\n`, { mode: 0o755 });
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const d = a(['install', '-n', 'ssh.4', '--display', 'scmi-test:latest'], env);
    assert.match(d.stdout, new RegExp(`^# run by ${bin}/docker$`, 'm'));
    const r = a(['install', '-n', 'ssh.4', 'scmi-test:latest'], env);
    assert.equal(r.status, 0, r.stderr);
    const args = fs.readFileSync(path.join(work, 'docker-args.txt'), 'utf8').split('\n');
    assert.deepEqual(args.slice(0, 6), ['run', '--rm', '--privileged', '--volume', '/:/media/root', 'scmi-test:latest']);
    assert.ok(!fs.existsSync(path.join(S, 'etc/systemd/system/centos-ssh.ssh.4.service')));
  });

  it("through the launcher (bin/run.js executed), the label's command gets the caller's NODE_EXTRA_CA_CERTS back", () => {
    const bin = path.join(work, 'bin-env');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'docker'), `#!/bin/sh\nenv > ${work}/docker-env.txt\n`, { mode: 0o755 });
    const ca = path.join(work, 'some-ca.pem');
    const env: NodeJS.ProcessEnv = { ...process.env, ATOMIC_SYSROOT: S, PATH: `${bin}:${process.env.PATH}`, NODE_EXTRA_CA_CERTS: ca };
    for (const k of ['ATOMIC_OSTREE_REPO', 'ATOMIC_OSTREE_CHECKOUT_PATH', 'ATOMIC_CONF', 'ATOMIC_NODE_EXTRA_CA_CERTS']) delete env[k];
    const r = spawnSync(BIN, ['install', '-n', 'ssh.5', 'scmi-test:latest'], { encoding: 'utf8', env, timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    // the file does not exist: node would have warned at start-up had it loaded it; the launcher
    // deferred it, and nothing here makes a TLS connection
    assert.doesNotMatch(r.stderr, /Ignoring extra certs/);
    const seen = fs.readFileSync(path.join(work, 'docker-env.txt'), 'utf8').split('\n');
    assert.ok(seen.includes(`NODE_EXTRA_CA_CERTS=${ca}`), seen.filter((l) => l.includes('CA_CERTS')).join(', '));
  });
});
