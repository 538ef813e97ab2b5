import { strict as assert } from 'node:assert';
import {
  computeValues,
  DEFAULT_SERVICE_TEMPLATE,
  KNOWN_CAPABILITIES,
  allProcessCapabilities,
  quoteSystemdArg,
  templateSupportsPidfile,
  type ValuesInput,
} from '../../../src/render/values.js';
import { FORCED_VARIABLES, OS_SET_VARIABLES } from '../../../src/image/exports.js';

const FG_TEMPLATE = '[Service]\nExecStart=$EXEC_START\nExecStop=$EXEC_STOP\n';

function input(over: Partial<ValuesInput> = {}): ValuesInput {
  return {
    name: 'etcd',
    destDir: '/var/lib/containers/atomic/etcd.0',
    imageName: 'registry.example/etcd:latest',
    imageId: 'abc123',
    runtime: '/usr/bin/runc',
    userMode: false,
    uid: 0,
    gid: 0,
    setValues: {},
    manifestDefaults: {},
    serviceTemplate: DEFAULT_SERVICE_TEMPLATE,
    runtimeFeatures: { systemdCgroup: true, pidFile: true },
    home: '/root',
    atomicPath: '/usr/bin/atomic',
    uuid: () => '00000000-0000-4000-8000-000000000000',
    ...over,
  };
}

describe('render/values: computeValues (§2.8)', () => {
  it('DEFAULT_SERVICE_TEMPLATE is atomic\'s constant, byte for byte (leading empty line)', () => {
    assert.equal(
      DEFAULT_SERVICE_TEMPLATE,
      '\n[Unit]\nDescription=$NAME\n\n[Service]\nExecStartPre=$EXEC_STARTPRE\nExecStart=$EXEC_START\nExecStop=$EXEC_STOP\nExecStopPost=$EXEC_STOPPOST\nRestart=on-failure\nWorkingDirectory=$DESTDIR\nPIDFile=$PIDFILE\n\n[Install]\nWantedBy=multi-user.target\n',
    );
    assert.ok(templateSupportsPidfile(DEFAULT_SERVICE_TEMPLATE));
  });

  it('root-mode OS defaults', () => {
    const v = computeValues(input());
    assert.equal(v.RUN_DIRECTORY, '/run');
    assert.equal(v.PIDFILE, '/run/container-etcd.pid');
    assert.equal(v.CONF_DIRECTORY, '/etc');
    assert.equal(v.STATE_DIRECTORY, '/var/lib');
    assert.equal(v.RUNTIME, '/usr/bin/runc');
    assert.equal(v.ATOMIC, '/usr/bin/atomic');
    assert.equal(v.UUID, '00000000-0000-4000-8000-000000000000');
    assert.equal(v.ALL_PROCESS_CAPABILITIES, allProcessCapabilities());
    for (const k of [...OS_SET_VARIABLES, ...FORCED_VARIABLES, 'RUNTIME', 'ATOMIC']) assert.ok(k in v, k);
  });

  const userCases: { title: string; over: Partial<ValuesInput>; run: string; pid: string }[] = [
    { title: 'XDG_RUNTIME_DIR given', over: { runDirectory: '/run/user/1000' }, run: '/run/user/1000', pid: '/run/user/1000/container-etcd.pid' },
    { title: 'no XDG_RUNTIME_DIR', over: {}, run: '/run/user/1000', pid: '/run/user/1000/container-etcd.pid' },
    { title: 'other runtime dir', over: { runDirectory: '/tmp/xdg' }, run: '/tmp/xdg', pid: '/tmp/xdg/container-etcd.pid' },
  ];
  for (const c of userCases) {
    it(`user-mode OS defaults (${c.title})`, () => {
      const v = computeValues(input({ userMode: true, uid: 1000, gid: 1001, home: '/home/u', ...c.over }));
      assert.equal(v.RUN_DIRECTORY, c.run);
      assert.equal(v.PIDFILE, c.pid);
      assert.equal(v.CONF_DIRECTORY, '/home/u/.config');
      assert.equal(v.STATE_DIRECTORY, '/home/u/.data');
      assert.equal(v.HOST_UID, '1000');
      assert.equal(v.HOST_GID, '1001');
    });
  }

  it('root mode ignores runDirectory (atomic always used /run)', () => {
    assert.equal(computeValues(input({ runDirectory: '/run/user/0' })).RUN_DIRECTORY, '/run');
  });

  const precedence: { title: string; set: Record<string, string>; manifest: Record<string, string | number | boolean>; key: string; want: string }[] = [
    { title: '--set beats manifest', set: { PORT: '9000' }, manifest: { PORT: '8081' }, key: 'PORT', want: '9000' },
    { title: 'manifest default used', set: {}, manifest: { PORT: '8081' }, key: 'PORT', want: '8081' },
    { title: 'manifest beats OS default', set: {}, manifest: { STATE_DIRECTORY: '/srv' }, key: 'STATE_DIRECTORY', want: '/srv' },
    { title: '--set beats OS default', set: { CONF_DIRECTORY: '/opt/etc' }, manifest: {}, key: 'CONF_DIRECTORY', want: '/opt/etc' },
    { title: 'PIDFILE follows a manifest RUN_DIRECTORY', set: {}, manifest: { RUN_DIRECTORY: '/var/run' }, key: 'PIDFILE', want: '/var/run/container-etcd.pid' },
    { title: 'PIDFILE follows a --set RUN_DIRECTORY', set: { RUN_DIRECTORY: '/x' }, manifest: {}, key: 'PIDFILE', want: '/x/container-etcd.pid' },
    { title: 'PIDFILE can be set', set: { PIDFILE: '/p.pid' }, manifest: {}, key: 'PIDFILE', want: '/p.pid' },
    { title: 'RUNTIME can be set', set: { RUNTIME: '/bin/crun' }, manifest: {}, key: 'RUNTIME', want: '/bin/crun' },
    { title: 'numbers become strings', set: {}, manifest: { PORT: 8080 }, key: 'PORT', want: '8080' },
    { title: 'booleans become strings', set: {}, manifest: { DEBUG: true }, key: 'DEBUG', want: 'true' },
    { title: 'stored UUID is kept (update)', set: { UUID: 'kept' }, manifest: {}, key: 'UUID', want: 'kept' },
    { title: 'manifest UUID is kept', set: {}, manifest: { UUID: 'm' }, key: 'UUID', want: 'm' },
  ];
  for (const c of precedence) {
    it(`precedence: ${c.title}`, () => {
      assert.equal(computeValues(input({ setValues: c.set, manifestDefaults: c.manifest }))[c.key], c.want);
    });
  }

  it('forced values overwrite --set and manifest defaults', () => {
    const evil: Record<string, string> = {};
    for (const k of FORCED_VARIABLES) evil[k] = 'evil';
    const v = computeValues(input({ setValues: evil, manifestDefaults: evil, uid: 7, gid: 8 }));
    assert.equal(v.DESTDIR, '/var/lib/containers/atomic/etcd.0');
    assert.equal(v.NAME, 'etcd');
    assert.equal(v.IMAGE_NAME, 'registry.example/etcd:latest');
    assert.equal(v.IMAGE_ID, 'abc123');
    assert.equal(v.HOST_UID, '7');
    assert.equal(v.HOST_GID, '8');
    for (const k of ['EXEC_START', 'EXEC_STOP', 'EXEC_STARTPRE', 'EXEC_STOPPOST']) assert.notEqual(v[k], 'evil');
  });

  it('the default UUID generator gives a random uuid4', () => {
    const a = computeValues(input({ uuid: undefined })).UUID;
    const b = computeValues(input({ uuid: undefined })).UUID;
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(a, b);
  });

  it('inputs are not modified; a __proto__ key stays a plain value', () => {
    const set = JSON.parse('{"__proto__":"x","PORT":"1"}') as Record<string, string>;
    const snapshot = JSON.stringify(set);
    const v = computeValues(input({ setValues: set }));
    assert.equal(JSON.stringify(set), snapshot);
    assert.ok(Object.prototype.hasOwnProperty.call(v, '__proto__'));
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
  });

  describe('ALL_PROCESS_CAPABILITIES', () => {
    it('atomic\'s 38 names, quoted, ",\\n"-joined with a trailing newline', () => {
      const s = allProcessCapabilities();
      assert.equal(KNOWN_CAPABILITIES.length, 38);
      assert.ok(s.startsWith('"CAP_CHOWN",\n"CAP_DAC_OVERRIDE",\n'));
      assert.ok(s.endsWith(',\n"CAP_BLOCK_SUSPEND",\n"CAP_AUDIT_READ"\n'));
      assert.equal(s.split(',\n').length, 38);
    });
    const table: [number, number, string][] = [
      [0, 1, 'CAP_CHOWN'],
      [36, 37, 'CAP_BLOCK_SUSPEND'],
      [37, 38, 'CAP_AUDIT_READ'],
      [40, 41, 'CAP_CHECKPOINT_RESTORE'],
      [63, 41, 'CAP_CHECKPOINT_RESTORE'],
    ];
    for (const [last, n, lastName] of table) {
      it(`cap_last_cap=${last} → ${n} names, last ${lastName}`, () => {
        const s = computeValues(input({ capLastCap: last })).ALL_PROCESS_CAPABILITIES;
        const names = s.trimEnd().split(',\n');
        assert.equal(names.length, n);
        assert.equal(names[names.length - 1], `"${lastName}"`);
        assert.ok(s.endsWith('"\n'));
      });
    }
  });

  describe('EXEC_* directives', () => {
    // the hardened foreground form (values.ts): sh wrappers that delete a leftover before run and
    // never leave the container behind on stop
    const M = '/run/atomic-stopping-etcd';
    const fgStart = (rtsg: string, n: string, m = M) =>
      `/bin/sh -c 'rm -f ${m}; ${rtsg} delete -f ${n} >/dev/null 2>&1; ${rtsg} run ${n}; rc=$$?; if [ -e ${m} ]; then rm -f ${m}; exit 0; fi; exit $$rc'`;
    const fgStop = (rtsg: string, rt: string, n: string, m = M, sig = 'TERM', secs = 10) =>
      `/bin/sh -c 'touch ${m}; ${rtsg} kill ${n} ${sig} >/dev/null 2>&1; end=$$(($$(date +%%s)+${secs})); while [ $$(date +%%s) -lt $$end ] && ${rt} state ${n} >/dev/null 2>&1; do sleep 0.1; done; ${rtsg} delete -f ${n} >/dev/null 2>&1; exit 0'`;
    it('foreground form, literally', () => {
      const v = computeValues(input({ serviceTemplate: FG_TEMPLATE }));
      assert.equal(
        v.EXEC_START,
        "/bin/sh -c 'rm -f /run/atomic-stopping-etcd; /usr/bin/runc --systemd-cgroup delete -f etcd >/dev/null 2>&1; /usr/bin/runc --systemd-cgroup run etcd; rc=$$?; if [ -e /run/atomic-stopping-etcd ]; then rm -f /run/atomic-stopping-etcd; exit 0; fi; exit $$rc'",
      );
      assert.equal(
        v.EXEC_STOP,
        "/bin/sh -c 'touch /run/atomic-stopping-etcd; /usr/bin/runc --systemd-cgroup kill etcd TERM >/dev/null 2>&1; end=$$(($$(date +%%s)+10)); while [ $$(date +%%s) -lt $$end ] && /usr/bin/runc state etcd >/dev/null 2>&1; do sleep 0.1; done; /usr/bin/runc --systemd-cgroup delete -f etcd >/dev/null 2>&1; exit 0'",
      );
    });
    it('foreground form: a runtime path with a quote is quoted for sh, then for systemd', () => {
      const v = computeValues(input({ serviceTemplate: FG_TEMPLATE, runtime: "/opt/it's/runc", runtimeFeatures: { systemdCgroup: false, pidFile: true } }));
      assert.equal(
        v.EXEC_START,
        "/bin/sh -c 'rm -f /run/atomic-stopping-etcd; \\'/opt/it\\'\\\\\\'\\'s/runc\\' delete -f etcd >/dev/null 2>&1; \\'/opt/it\\'\\\\\\'\\'s/runc\\' run etcd; rc=$$?; if [ -e /run/atomic-stopping-etcd ]; then rm -f /run/atomic-stopping-etcd; exit 0; fi; exit $$rc'",
      );
    });
    type Row = { title: string; over: Partial<ValuesInput>; start: string; stop: string; startpre: string; stoppost: string };
    const rows: Row[] = [
      {
        title: 'default template, systemd-cgroup, pid-file → detached',
        over: {},
        start: "/usr/bin/runc  --systemd-cgroup run -d --pid-file /run/container-etcd.pid 'etcd'",
        stop: '',
        startpre: '',
        stoppost: "/usr/bin/runc delete 'etcd'",
      },
      {
        title: 'default template, no systemd-cgroup → detached, atomic\'s double space',
        over: { runtimeFeatures: { systemdCgroup: false, pidFile: true } },
        start: "/usr/bin/runc  run -d --pid-file /run/container-etcd.pid 'etcd'",
        stop: '',
        startpre: '',
        stoppost: "/usr/bin/runc delete 'etcd'",
      },
      {
        title: 'default template, runtime without --pid-file → foreground',
        over: { runtimeFeatures: { systemdCgroup: true, pidFile: false } },
        start: fgStart('/usr/bin/runc --systemd-cgroup', 'etcd'),
        stop: fgStop('/usr/bin/runc --systemd-cgroup', '/usr/bin/runc', 'etcd'),
        startpre: '',
        stoppost: '',
      },
      {
        title: 'template without $EXEC_STOPPOST → foreground',
        over: { serviceTemplate: FG_TEMPLATE },
        start: fgStart('/usr/bin/runc --systemd-cgroup', 'etcd'),
        stop: fgStop('/usr/bin/runc --systemd-cgroup', '/usr/bin/runc', 'etcd'),
        startpre: '',
        stoppost: '',
      },
      {
        title: 'braces ${EXEC_STOPPOST} ${PIDFILE} do not count → foreground',
        over: { serviceTemplate: 'ExecStopPost=${EXEC_STOPPOST}\nPIDFile=${PIDFILE}\n' },
        start: fgStart('/usr/bin/runc --systemd-cgroup', 'etcd'),
        stop: fgStop('/usr/bin/runc --systemd-cgroup', '/usr/bin/runc', 'etcd'),
        startpre: '',
        stoppost: '',
      },
      {
        title: 'foreground without systemd-cgroup',
        over: { serviceTemplate: FG_TEMPLATE, runtimeFeatures: { systemdCgroup: false, pidFile: true } },
        start: fgStart('/usr/bin/runc', 'etcd'),
        stop: fgStop('/usr/bin/runc', '/usr/bin/runc', 'etcd'),
        startpre: '',
        stoppost: '',
      },
      {
        title: 'user mode never uses --systemd-cgroup',
        over: { userMode: true, uid: 1000, runDirectory: '/run/user/1000', serviceTemplate: FG_TEMPLATE },
        start: fgStart('/usr/bin/runc', 'etcd', '/run/user/1000/atomic-stopping-etcd'),
        stop: fgStop('/usr/bin/runc', '/usr/bin/runc', 'etcd', '/run/user/1000/atomic-stopping-etcd'),
        startpre: '',
        stoppost: '',
      },
      {
        title: 'user mode detached uses the user PIDFILE',
        over: { userMode: true, uid: 1000, runDirectory: '/run/user/1000' },
        start: "/usr/bin/runc  run -d --pid-file /run/user/1000/container-etcd.pid 'etcd'",
        stop: '',
        startpre: '',
        stoppost: "/usr/bin/runc delete 'etcd'",
      },
      {
        title: '--runtime=/bin/ls appears as given',
        over: { runtime: '/bin/ls', runtimeFeatures: { systemdCgroup: false, pidFile: false } },
        start: fgStart('/bin/ls', 'etcd'),
        stop: fgStop('/bin/ls', '/bin/ls', 'etcd'),
        startpre: '',
        stoppost: '',
      },
      {
        title: 'a PIDFILE with a space is quoted',
        over: { setValues: { PIDFILE: '/run/my dir/p.pid' } },
        start: "/usr/bin/runc  --systemd-cgroup run -d --pid-file '/run/my dir/p.pid' 'etcd'",
        stop: '',
        startpre: '',
        stoppost: "/usr/bin/runc delete 'etcd'",
      },
    ];
    it('stop signal and timeout: STOP_SIGNAL > the image StopSignal > TERM; STOP_TIMEOUT (default 10 s)', () => {
      const fg = (over: Partial<ValuesInput>) => computeValues(input({ serviceTemplate: FG_TEMPLATE, ...over })).EXEC_STOP;
      assert.equal(fg({ stopSignal: 'SIGQUIT' }), fgStop('/usr/bin/runc --systemd-cgroup', '/usr/bin/runc', 'etcd', M, 'QUIT'));
      assert.equal(fg({ stopSignal: 'sigusr1' }), fgStop('/usr/bin/runc --systemd-cgroup', '/usr/bin/runc', 'etcd', M, 'USR1'));
      assert.equal(fg({ stopSignal: '3' }), fgStop('/usr/bin/runc --systemd-cgroup', '/usr/bin/runc', 'etcd', M, '3'));
      assert.equal(fg({ stopSignal: 'not a signal;rm' }), fgStop('/usr/bin/runc --systemd-cgroup', '/usr/bin/runc', 'etcd'), 'an unusable image StopSignal falls back to TERM');
      assert.equal(fg({ stopSignal: 'SIGQUIT', setValues: { STOP_SIGNAL: 'INT', STOP_TIMEOUT: '3' } }), fgStop('/usr/bin/runc --systemd-cgroup', '/usr/bin/runc', 'etcd', M, 'INT', 3));
      assert.equal(fg({ setValues: { STOP_TIMEOUT: '0' } }), fgStop('/usr/bin/runc --systemd-cgroup', '/usr/bin/runc', 'etcd', M, 'TERM', 0));
      const bads: Record<string, string>[] = [{ STOP_SIGNAL: 'TERM; rm -rf /' }, { STOP_SIGNAL: '' }, { STOP_TIMEOUT: '-1' }, { STOP_TIMEOUT: '1e3' }, { STOP_TIMEOUT: '9999' }, { STOP_TIMEOUT: 'x' }];
      for (const bad of bads) {
        assert.throws(() => fg({ setValues: bad }), (e: unknown) => (e as { code?: string }).code === 'USAGE', JSON.stringify(bad));
      }
      // the detached form is atomic's, byte for byte: systemd stops it
      assert.equal(computeValues(input({ stopSignal: 'SIGQUIT' })).EXEC_STOP, '');
    });
    for (const r of rows) {
      it(r.title, () => {
        const v = computeValues(input(r.over));
        assert.deepEqual([v.EXEC_START, v.EXEC_STOP, v.EXEC_STARTPRE, v.EXEC_STOPPOST], [r.start, r.stop, r.startpre, r.stoppost]);
      });
    }
  });

  describe('container id quoting (atomic put NAME raw inside single quotes)', () => {
    const table: [string, string][] = [
      ['etcd', "'etcd'"],
      ['my-app_1.2', "'my-app_1.2'"],
      ["a'b", "'a\\'b'"],
      ['a b', "'a b'"],
      ['50%', "'50%%'"],
      ['$HOME', "'$$HOME'"],
      ['a\\b', "'a\\\\b'"],
      ['a\nb', "'a\\x0ab'"],
      ['a"b', "'a\\\"b'"],
    ];
    for (const [name, want] of table) {
      it(`${JSON.stringify(name)} → ${want}`, () => {
        assert.equal(quoteSystemdArg(name), want);
        // the detached form puts the name in directly (the foreground form wraps it in sh)
        const v = computeValues(input({ name, runtimeFeatures: { systemdCgroup: false, pidFile: true } }));
        assert.equal(v.EXEC_STOPPOST, `/usr/bin/runc delete ${want}`);
        assert.ok(!/[\n\r]/.test(v.EXEC_START));
        const fg = computeValues(input({ name, serviceTemplate: FG_TEMPLATE }));
        assert.ok(!/[\n\r]/.test(fg.EXEC_START + fg.EXEC_STOP));
      });
    }
  });
});
