import { strict as assert } from 'node:assert';
import {
  renderConfigJsonTemplate,
  renderUnitTemplate,
  renderTmpfilesTemplate,
  generateMissingBindTmpfiles,
} from '../../../src/render/render-files.js';
import { computeValues, DEFAULT_SERVICE_TEMPLATE, allProcessCapabilities } from '../../../src/render/values.js';
import { fixtureExports, helloWebExport, golden } from './fixture-exports.js';
import { expectError } from '../../helpers/error-code.js';

/** Values as computed for the systest fixture (PORT/RECEIVER from --set / manifest). */
function systestValues(set: Record<string, string> = {}, template = ''): Record<string, string> {
  return computeValues({
    name: 'systest',
    destDir: '/var/lib/containers/atomic/systest.0',
    imageName: 'oci:systest',
    imageId: '90f354a469e21c3135511c2e8fd20891ddefaca1ca5c9c443390bcea1059a319',
    runtime: '/usr/bin/runc',
    userMode: false,
    uid: 0,
    gid: 0,
    setValues: set,
    manifestDefaults: { RECEIVER: 'World', PORT: '8081' },
    serviceTemplate: template,
    runtimeFeatures: { systemdCgroup: true, pidFile: true },
    home: '/root',
    atomicPath: '/usr/bin/atomic',
    uuid: () => '11111111-2222-4333-8444-555555555555',
  });
}

const CFG = '/x/exports/config.json.template';
const UNIT = '/x/exports/service.template';
const TMPF = '/x/exports/tmpfiles.template';

describe('render/render-files', () => {
  describe('renderConfigJsonTemplate: inside JSON strings values are escaped', () => {
    const tmpl = '{"process": {"env": ["PORT=$PORT", "X=${X}x"]}, "hostname": "$NAME"}';
    const attempts: [string, string][] = [
      ['double quote', 'a"b'],
      ['close string and add a field', '80", "evil": "1'],
      ['close the object', '80"}, "root": {"readonly": false}, "x": {"y": "'],
      ['brace', '}'],
      ['backslash', 'C:\\dir\\'],
      ['systemd injection text', '\n[Service]\nExecStartPre=/bin/evil'],
      ['spaces and $', 'a b $c ${d} $$'],
      ['control characters', '\u0000\t\r\u001b'],
      ['unicode', 'héllo \u2028 😀'],
      ['empty', ''],
    ];
    for (const [title, value] of attempts) {
      it(`${title}: ${JSON.stringify(value)} survives as one string`, () => {
        const c = renderConfigJsonTemplate(tmpl, { PORT: value, X: value, NAME: 'n' }, CFG) as { process: { env: string[] }; hostname: string; root?: unknown; evil?: unknown };
        assert.deepEqual(c.process.env, [`PORT=${value}`, `X=${value}x`]);
        assert.equal(c.hostname, 'n');
        assert.deepEqual(Object.keys(c).sort(), ['hostname', 'process']);
      });
    }
    it('$$ is a literal $ (inside and outside strings)', () => {
      assert.deepEqual(renderConfigJsonTemplate('{"a": "$$HOME", "b": 1}', {}, CFG), { a: '$HOME', b: 1 });
    });
    it('a placeholder used as a JSON key is escaped too', () => {
      assert.deepEqual(renderConfigJsonTemplate('{"$K": 1}', { K: 'a"b' }, CFG), { 'a"b': 1 });
    });
    it('escaped quotes in the template do not confuse the string tracking', () => {
      assert.deepEqual(renderConfigJsonTemplate('{"a": "x\\"$V\\\\", "n": $N}', { V: '"', N: '2' }, CFG), { a: 'x""\\', n: 2 });
    });
  });

  describe('renderConfigJsonTemplate: outside strings only scalars', () => {
    const ok: [string, unknown][] = [
      ['1000', 1000],
      ['0', 0],
      ['-1.5e3', -1500],
      ['true', true],
      ['false', false],
      ['null', null],
    ];
    for (const [v, want] of ok) {
      it(`${JSON.stringify(v)} is inserted`, () => {
        assert.deepEqual(renderConfigJsonTemplate('{"uid": $UID}', { UID: v }, CFG), { uid: want });
      });
    }
    const refused = ['1000, "gid": 0', '1}', '"str"', '[1]', 'abc', '', ' 1', '01', '1 ', 'True', '{"a":1}', '0x10'];
    for (const v of refused) {
      it(`${JSON.stringify(v)} is refused (RENDER_UNSAFE_VALUE naming the variable and file)`, () => {
        expectError(() => renderConfigJsonTemplate('{"uid": $UID}', { UID: v }, CFG), 'RENDER_UNSAFE_VALUE', 'UID', CFG);
      });
    }
    it('the trusted ALL_PROCESS_CAPABILITIES list can be inserted raw', () => {
      const c = renderConfigJsonTemplate('{"caps": [\n$ALL_PROCESS_CAPABILITIES]}', { ALL_PROCESS_CAPABILITIES: allProcessCapabilities() }, CFG) as { caps: string[] };
      assert.equal(c.caps.length, 38);
      assert.equal(c.caps[37], 'CAP_AUDIT_READ');
    });
    it('a --set ALL_PROCESS_CAPABILITIES that is not a capability list is refused', () => {
      expectError(
        () => renderConfigJsonTemplate('{"caps": [$ALL_PROCESS_CAPABILITIES]}', { ALL_PROCESS_CAPABILITIES: '"CAP_KILL"], "root": {"readonly": false}, "x": [1' }, CFG),
        'RENDER_UNSAFE_VALUE',
        'ALL_PROCESS_CAPABILITIES',
      );
    });
  });

  describe('renderConfigJsonTemplate: errors', () => {
    it('a missing variable keeps atomic\'s message', () => {
      expectError(
        () => renderConfigJsonTemplate('{"a": "$VAR_WITH_NO_DEFAULT"}', {}, CFG),
        'RENDER_UNKNOWN_VARIABLE',
        `The template file '${CFG}' still contains an unreplaced value for: ''VAR_WITH_NO_DEFAULT''`,
      );
    });
    it('a result that is not JSON names the file', () => {
      expectError(() => renderConfigJsonTemplate('{"a": 1,}', {}, CFG), 'RENDER_INVALID_JSON', `Invalid json in configuration file: ${CFG}.`);
    });
    it('a result that is not an object names the file', () => {
      expectError(() => renderConfigJsonTemplate('[1]', {}, CFG), 'RENDER_INVALID_JSON', CFG);
    });
    it('invalid placeholders are reported with line and column', () => {
      expectError(() => renderConfigJsonTemplate('{\n "a": "$1"}', {}, CFG), 'USAGE', 'line 2, col 8');
    });
  });

  describe('renderUnitTemplate', () => {
    const tmpl = '[Unit]\nDescription=app $NAME ($DESC)\n\n[Service]\nExecStart=$EXEC_START\n';
    const refused: [string, string][] = [
      ['newline + directive', '\n[Service]\nExecStartPre=/bin/evil'],
      ['newline only', 'a\nb'],
      ['carriage return', 'a\rExecStartPre=/bin/evil'],
      ['NUL', 'a\u0000b'],
      ['trailing backslash (line continuation)', 'x \\'],
    ];
    for (const [title, value] of refused) {
      it(`refuses ${title}`, () => {
        expectError(() => renderUnitTemplate(tmpl, { NAME: 'n', DESC: value, EXEC_START: '/bin/true' }, UNIT), 'RENDER_UNSAFE_VALUE', 'DESC', UNIT);
      });
    }
    const kept = ['a b $c ${d} $$', 'it\'s "quoted"', '50% %n', 'back\\slash inside', ''];
    for (const value of kept) {
      it(`keeps ${JSON.stringify(value)} as is (no escaping, % specifiers pass through)`, () => {
        const out = renderUnitTemplate(tmpl, { NAME: 'n', DESC: value, EXEC_START: '/bin/true' }, UNIT);
        assert.equal(out.split('\n')[1], `Description=app n (${value})`);
        assert.equal(out.split('\n').length, tmpl.split('\n').length);
      });
    }
    it('a missing variable keeps atomic\'s message', () => {
      expectError(() => renderUnitTemplate('X=$VAR_WITH_NO_DEFAULT\n', {}, UNIT), 'RENDER_UNKNOWN_VARIABLE', `The template file '${UNIT}' still contains an unreplaced value for: ''VAR_WITH_NO_DEFAULT''`);
    });
    it('the default template renders the detached form', () => {
      const out = renderUnitTemplate(DEFAULT_SERVICE_TEMPLATE, systestValues({}, DEFAULT_SERVICE_TEMPLATE), 'default');
      assert.equal(out, golden('default-service.unit', out));
      assert.ok(out.includes("ExecStart=/usr/bin/runc  --systemd-cgroup run -d --pid-file /run/container-systest.pid 'systest'\n"));
    });
  });

  describe('renderTmpfilesTemplate', () => {
    const tmpl = 'd    ${RUN_DIRECTORY}/${NAME}   0700 ${U} - - -\nf /etc/x 0644 - - - $ARG\n# comment $C\n';
    const base = { RUN_DIRECTORY: '/run', NAME: 'n', U: 'root', ARG: 'a', C: 'c' };
    it('renders', () => {
      assert.equal(renderTmpfilesTemplate(tmpl, base, TMPF), 'd    /run/n   0700 root - - -\nf /etc/x 0644 - - - a\n# comment c\n');
    });
    const refused: [string, string, string][] = [
      ['space in the path', 'NAME', 'a b'],
      ['tab in the user field', 'U', 'ro\tot'],
      ['newline', 'NAME', 'n\nR /'],
      ['newline in the argument', 'ARG', 'x\nR /'],
      ['CR', 'U', 'x\r'],
      ['NUL', 'NAME', 'x\u0000'],
      ['quote', 'NAME', "x'"],
      ['backslash', 'NAME', 'x\\'],
      ['empty whole field', 'U', ''],
      ['newline in a comment', 'C', 'x\nR /'],
    ];
    for (const [title, key, value] of refused) {
      it(`refuses ${title}`, () => {
        expectError(() => renderTmpfilesTemplate(tmpl, { ...base, [key]: value }, TMPF), 'RENDER_UNSAFE_VALUE', key, TMPF);
      });
    }
    it('allows spaces in the argument field, and anything single-line in comments', () => {
      assert.equal(renderTmpfilesTemplate(tmpl, { ...base, ARG: 'hello world "q"', C: 'x y' }, TMPF), 'd    /run/n   0700 root - - -\nf /etc/x 0644 - - - hello world "q"\n# comment x y\n');
    });
    it('allows an empty value that is only part of a field', () => {
      assert.equal(renderTmpfilesTemplate('d /run/$A$NAME 0700 - - -\n', { A: '', NAME: 'n' }, TMPF), 'd /run/n 0700 - - -\n');
    });
    it('a missing variable names the tmpfiles template (atomic named the service template)', () => {
      expectError(
        () => renderTmpfilesTemplate('d ${STATE_DIRECTORY}/$VAR_WITH_NO_DEFAULT 0700 - - -\n', {}, TMPF),
        'RENDER_UNKNOWN_VARIABLE',
        `The template file '${TMPF}' still contains an unreplaced value for: ''STATE_DIRECTORY''`,
      );
    });
  });

  describe('generateMissingBindTmpfiles', () => {
    it('atomic\'s exact lines', () => {
      assert.equal(generateMissingBindTmpfiles(['/run/systest', '/var/lib/x'], 0, 0), 'd    /run/systest   0700 0 0 - -\nd    /var/lib/x   0700 0 0 - -\n');
      assert.equal(generateMissingBindTmpfiles(['/a'], 1000, 1001), 'd    /a   0700 1000 1001 - -\n');
      assert.equal(generateMissingBindTmpfiles([], 0, 0), '');
    });
    it('doubles % (tmpfiles specifiers)', () => {
      assert.equal(generateMissingBindTmpfiles(['/run/50%'], 0, 0), 'd    /run/50%%   0700 0 0 - -\n');
    });
    for (const p of ['/run/a b', '/run/a\nR /', 'relative', '/x"y']) {
      it(`refuses ${JSON.stringify(p)}`, () => {
        expectError(() => generateMissingBindTmpfiles([p], 0, 0), 'RENDER_UNSAFE_VALUE');
      });
    }
  });

  describe('fixture images', () => {
    let ex: Map<string, string>;
    before(function () {
      this.timeout(120_000);
      ex = fixtureExports('systest');
    });

    it('systest: config.json.template with PORT/RECEIVER/NAME/RUN_DIRECTORY (golden)', () => {
      const c = renderConfigJsonTemplate(ex.get('config.json.template')!, systestValues(), CFG);
      const text = JSON.stringify(c, null, 4) + '\n';
      assert.equal(text, golden('systest-config.json', text));
    });
    it('systest: service.template and tmpfiles.template (golden)', () => {
      const v = systestValues({}, ex.get('service.template')!);
      const unit = renderUnitTemplate(ex.get('service.template')!, v, UNIT);
      assert.equal(unit, golden('systest.service', unit));
      const tmpf = renderTmpfilesTemplate(ex.get('tmpfiles.template')!, v, TMPF);
      assert.equal(tmpf, golden('systest-tmpfiles.conf', tmpf));
    });
    it('systest: --set values with spaces and $ survive into config.json env and the unit Description', () => {
      const receiver = 'Big $World "x" \\ y';
      const v = systestValues({ RECEIVER: receiver, PORT: '8082' }, ex.get('service.template')!);
      const c = renderConfigJsonTemplate(ex.get('config.json.template')!, v, CFG) as { process: { env: string[] } };
      assert.ok(c.process.env.includes(`RECEIVER=${receiver}`));
      assert.ok(c.process.env.includes('PORT=8082'));
      const unit = renderUnitTemplate(ex.get('service.template')!, v, UNIT);
      assert.ok(unit.includes(`Description=systest system container systest (hello ${receiver} on port 8082)\n`));
    });
    it('systest: injection attempts through --set are refused or escaped', () => {
      const inj = '\n[Service]\nExecStartPre=/bin/evil';
      const v = systestValues({ RECEIVER: inj }, ex.get('service.template')!);
      const c = renderConfigJsonTemplate(ex.get('config.json.template')!, v, CFG) as { process: { env: string[] } };
      assert.ok(c.process.env.includes(`RECEIVER=${inj}`));
      expectError(() => renderUnitTemplate(ex.get('service.template')!, v, UNIT), 'RENDER_UNSAFE_VALUE', 'RECEIVER');
      const v2 = systestValues({ RUN_DIRECTORY: '/run x' }, ex.get('service.template')!);
      expectError(() => renderTmpfilesTemplate(ex.get('tmpfiles.template')!, v2, TMPF), 'RENDER_UNSAFE_VALUE', 'RUN_DIRECTORY');
      const c2 = renderConfigJsonTemplate(ex.get('config.json.template')!, systestValues({ PORT: '1", "x": "' }), CFG) as { process: { env: string[] } };
      assert.ok(c2.process.env.includes('PORT=1", "x": "'));
    });
    it('systest-update renders as well', function () {
      this.timeout(120_000);
      const up = fixtureExports('systest-update');
      const v = systestValues({}, up.get('service.template')!);
      renderConfigJsonTemplate(up.get('config.json.template')!, v, CFG);
      renderUnitTemplate(up.get('service.template')!, v, UNIT);
      renderTmpfilesTemplate(up.get('tmpfiles.template')!, v, TMPF);
    });
  });

  describe('exports-examples/hello-web', () => {
    it('renders config.json, the unit and tmpfiles (golden)', () => {
      const svc = helloWebExport('service.template');
      const v = computeValues({
        name: 'hello',
        destDir: '/var/lib/containers/atomic/hello.0',
        imageName: 'example.com/atomic/hello-web:1.0',
        imageId: 'feed',
        runtime: '/usr/bin/runc',
        userMode: false,
        uid: 0,
        gid: 0,
        setValues: { GREETING: 'Hi $USER, "welcome"' },
        manifestDefaults: { PORT: '8080', GREETING: 'Hello' },
        serviceTemplate: svc,
        runtimeFeatures: { systemdCgroup: true, pidFile: true },
        home: '/root',
        atomicPath: '/usr/bin/atomic',
        uuid: () => 'u',
      });
      const c = renderConfigJsonTemplate(helloWebExport('config.json.template'), v, 'hello-web/config.json.template') as { process: { env: string[] } };
      assert.ok(c.process.env.includes('GREETING=Hi $USER, "welcome"'));
      const text = JSON.stringify(c, null, 4) + '\n';
      assert.equal(text, golden('hello-web-config.json', text));
      const unit = renderUnitTemplate(svc, v, 'hello-web/service.template');
      assert.equal(unit, golden('hello-web.service', unit));
      const tmpf = renderTmpfilesTemplate(helloWebExport('tmpfiles.template'), v, 'hello-web/tmpfiles.template');
      assert.equal(tmpf, golden('hello-web-tmpfiles.conf', tmpf));
    });
  });
});
