/**
 * Label-driven install/uninstall/run and run-once containers, through the CLI in a scratch
 * --sysroot. The label commands are plain host shell commands (no container engine); the
 * run-once tests really run the fixture with runc (root only).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir } from '../../helpers/fixtures.js';
import { atomicSysroot } from '../../helpers/cli.js';
import { buildExampleImage } from '../../helpers/example-image.js';
import { requireRootAndRuntime } from '../../helpers/runtime-required.js';

type Labels = Record<string, string>;

/** An image from exports-examples/hello-web with its /exports removed and the given labels and config. */
function labelledImage(work: string, tag: string, labels: Labels, config: Record<string, unknown> = {}, edit?: (dir: string) => void): string {
  return buildExampleImage('hello-web', work, tag, (d) => {
    fs.rmSync(path.join(d, 'rootfs', 'exports'), { recursive: true, force: true });
    const f = path.join(d, 'image.json');
    const j = JSON.parse(fs.readFileSync(f, 'utf8')) as { name: string; tag: string; config: Record<string, unknown> };
    j.name = tag; // stored as `${tag}:latest`
    j.tag = 'latest';
    j.config = { ...j.config, ...config, Labels: labels };
    fs.writeFileSync(f, JSON.stringify(j));
    edit?.(d);
  });
}

describe('label-driven install / uninstall / run', function () {
  this.timeout(180_000);
  let work: string;
  let S: string;
  const a = (args: string[], extra: Record<string, string> = {}) => atomicSysroot(S, args, extra);
  const host = (...p: string[]) => path.join(S, ...p);

  before(() => {
    work = makeTempDir('atomic-labels-');
    S = path.join(work, 'sysroot');
    fs.mkdirSync(S);
    const images: Array<[string, Labels]> = [
      [
        'labelled',
        {
          INSTALL: `/bin/sh -c 'echo "installed $NAME from $IMAGE conf=$CONFDIR log=$LOGDIR data=$DATADIR" > $HOST/installed.txt' && echo NAME IMAGE \${CONFDIR} "\${LOGDIR}" \${DATADIR}`,
          UNINSTALL: `/bin/sh -c 'echo "uninstalled $NAME" > $HOST/uninstalled.txt; exit 7'`,
          RUN: `/bin/sh -c 'printf "%s\\n" "$0" "$@" > $HOST/run-args.txt; exit 3' run-cmd --name=\${NAME}`,
        },
      ],
      // centos-ssh style: a lower-case `install` label whose command takes its own options
      ['scmi', { install: `/bin/sh -c 'printf "%s\\n" "$0" "$@" > $HOST/scmi-args.txt' scmi install --name=\${NAME}` }],
      ['nolabel', { summary: 'an image without install labels' }],
    ];
    for (const [tag, labels] of images) {
      const src = labelledImage(work, tag, labels);
      const r = a(['pull', src]);
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('install runs the INSTALL label with IMAGE, NAME and the directories substituted, and creates the directories below the sysroot', () => {
    const r = a(['install', 'labelled']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const lines = r.stdout.trimEnd().split('\n');
    const resolved = `/bin/sh -c 'echo "installed $NAME from $IMAGE conf=$CONFDIR log=$LOGDIR data=$DATADIR" > $HOST/installed.txt' && echo labelled labelled ${host('etc/labelled')} "${host('var/log/labelled')}" ${host('var/lib/labelled')}`;
    assert.equal(lines[0], resolved, 'the resolved command is echoed first');
    assert.equal(lines[1], `labelled labelled ${host('etc/labelled')} ${host('var/log/labelled')} ${host('var/lib/labelled')}`);
    assert.equal(fs.readFileSync(host('installed.txt'), 'utf8'), `installed labelled from labelled conf=${host('etc/labelled')} log=${host('var/log/labelled')} data=${host('var/lib/labelled')}\n`, 'the environment carries the same values');
    for (const d of ['etc/labelled', 'var/log/labelled', 'var/lib/labelled']) assert.ok(fs.statSync(host(d)).isDirectory(), d);
    assert.ok(!fs.existsSync(host('var/lib/containers/atomic/labelled')), 'no system container was created');
  });

  it('-n NAME names the container and extra ARGs after IMAGE reach the command verbatim', () => {
    const r = a(['install', '-n', 'ssh.2', 'scmi', '--info', '--manager=systemd', '--setopt=--volume {{NAME}}.data:/home']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.deepEqual(fs.readFileSync(host('scmi-args.txt'), 'utf8').split('\n'), ['scmi', 'install', '--name=ssh.2', '--info', '--manager=systemd', '--setopt=--volume {{NAME}}.data:/home', '']);
    assert.ok(fs.statSync(host('etc/ssh.2')).isDirectory());
    // a flag of ours after IMAGE belongs to the image's command, not to atomic
    const p = a(['install', 'scmi', '--name=ssh.3', '--info']);
    assert.equal(p.status, 0, p.stderr + p.stdout);
    assert.deepEqual(fs.readFileSync(host('scmi-args.txt'), 'utf8').split('\n'), ['scmi', 'install', '--name=scmi', '--name=ssh.3', '--info', '']);
  });

  it('--display prints the resolved command and runs nothing', () => {
    fs.rmSync(host('installed.txt'), { force: true });
    const r = a(['install', '--display', '-n', 'shown', 'labelled', 'extra arg']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trimEnd(), `/bin/sh -c 'echo "installed $NAME from $IMAGE conf=$CONFDIR log=$LOGDIR data=$DATADIR" > $HOST/installed.txt' && echo shown labelled ${host('etc/shown')} "${host('var/log/shown')}" ${host('var/lib/shown')} 'extra arg'`);
    assert.ok(!fs.existsSync(host('installed.txt')));
    assert.ok(!fs.existsSync(host('etc/shown')), 'no directories with --display');
  });

  it('uninstall runs the UNINSTALL label, keeps the directories and exits with its status', () => {
    const r = a(['uninstall', 'labelled']);
    assert.equal(r.status, 7, r.stderr + r.stdout);
    assert.equal(fs.readFileSync(host('uninstalled.txt'), 'utf8'), 'uninstalled labelled\n');
    assert.ok(fs.statSync(host('etc/labelled')).isDirectory(), 'directories are not deleted');
    const d = a(['uninstall', '--display', 'labelled']);
    assert.equal(d.status, 0);
    assert.match(d.stdout, /^\/bin\/sh -c 'echo "uninstalled \$NAME"/);
  });

  it('run uses the RUN label with CMD appended and exits with its status', () => {
    const r = a(['run', '-n', 'runner', 'labelled', '--info', 'two words']);
    assert.equal(r.status, 3, r.stderr + r.stdout);
    assert.deepEqual(fs.readFileSync(host('run-args.txt'), 'utf8').split('\n'), ['run-cmd', '--name=runner', '--info', 'two words', '']);
    assert.ok(fs.statSync(host('var/log/runner')).isDirectory());
  });

  it('an image without the label is refused with an error naming the label and the image', () => {
    const r = a(['install', 'nolabel']);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, /^Error: Image nolabel has no INSTALL label/m);
    assert.match(r.stderr, /atomic install --system nolabel/);
    const u = a(['uninstall', 'nolabel']);
    assert.equal(u.status, 1);
    assert.match(u.stderr, /Image nolabel has no UNINSTALL label/);
    const none = a(['uninstall', 'not-an-image-or-container']);
    assert.equal(none.status, 1, 'neither a container nor an image: atomic\'s lookup error');
    assert.match(none.stderr, /Unable to find 'not-an-image-or-container' in the following backends: ostree/);
  });

  it('--set without --system is refused', () => {
    const r = a(['install', '--set', 'A=1', 'labelled']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--set is valid only when used with --system or --user/);
  });

  it('an atomic.type=system image given to plain install is installed as a system container, with atomic\'s Note', () => {
    const src = buildExampleImage('hello-web', work, 'hello-web');
    const r = a(['install', '-n', 'hello-web', src]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^Note: Switching from the 'docker' backend to the 'ostree' backend based on the 'atomic.type' label in the image\. {2}You can use --storage to override this behaviour\.$/m);
    assert.ok(fs.lstatSync(host('var/lib/containers/atomic/hello-web')).isSymbolicLink());
    assert.ok(fs.existsSync(host('etc/systemd/system/hello-web.service')));
    const u = a(['uninstall', 'hello-web']);
    assert.equal(u.status, 0, u.stderr);
    assert.ok(!fs.existsSync(host('etc/systemd/system/hello-web.service')));
  });
});

describe('run-once containers (runc, root)', function () {
  this.timeout(180_000);
  before(() => requireRootAndRuntime());
  let work: string;
  let S: string;
  const a = (args: string[]) => atomicSysroot(S, args);
  const workDirs = () => {
    const d = path.join(S, 'var/lib/containers/atomic/.storage/ostree/tmp/atomic-container');
    return fs.existsSync(d) ? fs.readdirSync(d) : [];
  };

  before(() => {
    work = makeTempDir('atomic-runonce-');
    S = path.join(work, 'sysroot');
    fs.mkdirSync(S);
    const once = labelledImage(work, 'once', { 'atomic.run': 'once' }, { Cmd: ['/bin/sh', '-c', 'echo "once says $GREETING from $(cat /etc/hostname 2>/dev/null || hostname)"; exit 3'], Env: ['PATH=/bin', 'GREETING=hi'] });
    assert.equal(a(['pull', once]).status, 0);
    // an image with /exports/config.json.template (values and --set apply) and a writable root asked for
    const exp = labelledImage(work, 'exported', { summary: 'run-once from /exports' }, {}, (d) => {
      fs.mkdirSync(path.join(d, 'rootfs', 'exports'), { recursive: true });
      const cfg = JSON.parse(fs.readFileSync(path.join(process.cwd(), 'exports-examples/hello-web/rootfs/exports/config.json.template'), 'utf8').replace(/"\$\{RUN_DIRECTORY\}\/\$\{NAME\}"/, '"/tmp"')) as { root: { readonly: boolean } };
      cfg.root.readonly = false;
      fs.writeFileSync(path.join(d, 'rootfs', 'exports', 'config.json.template'), JSON.stringify(cfg, null, 2));
      fs.writeFileSync(path.join(d, 'rootfs', 'exports', 'manifest.json'), JSON.stringify({ defaultValues: { PORT: '1', GREETING: 'Hello' } }));
    });
    assert.equal(a(['pull', exp]).status, 0);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('install of an atomic.run=once image runs it in the foreground, exits with its status and leaves nothing', () => {
    const r = a(['install', 'once']);
    assert.equal(r.status, 3, r.stderr + r.stdout);
    assert.match(r.stdout, /^once says hi from once$/m, 'generated config: Cmd, Env and hostname = NAME');
    assert.deepEqual(workDirs(), [], 'the checkout was removed');
    assert.ok(!fs.existsSync(path.join(S, 'var/lib/containers/atomic/once')), 'no CK/NAME');
    assert.ok(!fs.existsSync(path.join(S, 'etc/systemd/system/once.service')), 'no unit');
  });

  it('run --storage ostree IMAGE CMD replaces the command and returns its status', () => {
    const r = a(['run', '--storage', 'ostree', 'once', '/bin/sh', '-c', 'echo replaced; id -u; exit 42']);
    assert.equal(r.status, 42, r.stderr + r.stdout);
    assert.equal(r.stdout, 'replaced\n0\n');
    assert.deepEqual(workDirs(), []);
  });

  it('an image without RUN label runs once with its /exports config rendered with --set; the root stays read-only', () => {
    const r = a(['run', '--set', 'GREETING=Bonjour', 'exported', '/bin/sh', '-c', 'echo "$GREETING $PORT $NAME"; touch /x 2>/dev/null || echo read-only']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`^Bonjour 1 run-once-\\d+\\nread-only\\n$`));
    assert.match(r.stderr, /mounted read-only/);
    assert.deepEqual(workDirs(), []);
  });

  it('--display prints the runtime command and runs nothing', () => {
    const r = a(['run', '--display', '--storage', 'ostree', '-n', 'shown', 'once', 'echo', 'x']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /runc run shown # echo x\n$/);
  });
});
