import { strict as assert } from 'node:assert';
import { buildLabelCommand, findLabel, defaultLabelName, labelVars, shellQuote } from '../../../../src/app/labels/run.js';
import { splitAtFirstPositional } from '../../../../src/cli/passthrough.js';

describe('label commands (INSTALL/UNINSTALL/RUN)', () => {
  const vars = labelVars('/', 'ssh.2', 'docker.io/jdeathe/centos-ssh:2.6.1');

  it('finds a label case-insensitively, atomic spellings first', () => {
    assert.equal(findLabel({ INSTALL: 'a', install: 'b' }, 'INSTALL'), 'a');
    assert.equal(findLabel({ install: 'b' }, 'INSTALL'), 'b');
    assert.equal(findLabel({ Install: 'c' }, 'INSTALL'), 'c');
    assert.equal(findLabel({ iNsTaLl: 'd' }, 'INSTALL'), 'd');
    assert.equal(findLabel({ RUN: 'x' }, 'INSTALL'), undefined);
  });

  it('derives the default name from the last path part without tag or digest', () => {
    assert.equal(defaultLabelName('docker.io/jdeathe/centos-ssh:2.6.1'), 'centos-ssh');
    assert.equal(defaultLabelName('registry:5000/a/b@sha256:' + 'a'.repeat(64)), 'b');
    assert.equal(defaultLabelName('busybox'), 'busybox');
  });

  it('puts CONFDIR/LOGDIR/DATADIR below the sysroot and HOST at it', () => {
    assert.deepEqual(labelVars('/', 'n', 'i'), { NAME: 'n', IMAGE: 'i', CONFDIR: '/etc/n', LOGDIR: '/var/log/n', DATADIR: '/var/lib/n', HOST: '' });
    const v = labelVars('/srv/root', 'n', 'i');
    assert.equal(v.CONFDIR, '/srv/root/etc/n');
    assert.equal(v.HOST, '/srv/root');
  });

  it('substitutes whole words IMAGE, NAME, IMAGE=IMAGE and NAME=NAME, not parts of words', () => {
    const c = buildLabelCommand('docker run --rm -e IMAGE=IMAGE -e NAME=NAME --name NAME IMAGE /bin/install.sh NAMES xIMAGE', vars);
    assert.equal(c, 'docker run --rm -e IMAGE=docker.io/jdeathe/centos-ssh:2.6.1 -e NAME=ssh.2 --name ssh.2 docker.io/jdeathe/centos-ssh:2.6.1 /bin/install.sh NAMES xIMAGE');
  });

  it('expands ${CONFDIR} ${LOGDIR} ${DATADIR} $NAME outside single quotes only', () => {
    const c = buildLabelCommand(`scmi install --name=\${NAME} --log=$LOGDIR "\${DATADIR}/x" '$CONFDIR stays' \${CONFDIR}`, vars);
    assert.equal(c, `scmi install --name=ssh.2 --log=/var/log/ssh.2 "/var/lib/ssh.2/x" '$CONFDIR stays' /etc/ssh.2`);
  });

  it('leaves other variables to the shell and quotes unsafe values and extra args', () => {
    const v = labelVars('/', 'n', "evil'; rm -rf /");
    const c = buildLabelCommand('run IMAGE $HOME "$IMAGE"', v, ['--setopt=--volume a:/b', 'plain']);
    assert.equal(c, `run 'evil'\\''; rm -rf /' $HOME "evil'; rm -rf /" '--setopt=--volume a:/b' plain`);
    assert.equal(shellQuote(''), "''");
  });

  it('splits argv at the first positional so flags after IMAGE are passed through', () => {
    const flags = { name: { type: 'option', char: 'n' }, display: { type: 'boolean' }, set: { type: 'option' } };
    assert.deepEqual(splitAtFirstPositional(['-n', 'x', '--display', 'img', '--name=ssh.2', '--info', '-c'], flags), {
      head: ['-n', 'x', '--display', 'img'],
      first: 'img',
      rest: ['--name=ssh.2', '--info', '-c'],
    });
    assert.deepEqual(splitAtFirstPositional(['--set', 'A=1', '--', '-img', 'a'], flags), { head: ['--set', 'A=1', '--', '-img'], first: '-img', rest: ['a'] });
    assert.deepEqual(splitAtFirstPositional(['--display'], flags), { head: ['--display'], first: undefined, rest: [] });
  });
});
