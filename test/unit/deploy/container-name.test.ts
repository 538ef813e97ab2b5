/** The one container-name rule (src/deploy/container-name.ts), and the collision rule for `.0`/`.1` names. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { validateContainerName, unitName, slotCollision, isValidContainerName } from '../../../src/deploy/container-name.js';
import { defaultSystemName } from '../../../src/image/name.js';
import { code } from '../../helpers/error-code.js';

describe('deploy/container-name', () => {
  let hostile = 0;
  after(() => console.log(`      container-name: ${hostile} hostile names refused`));

  const bad: Array<[string, string]> = [
    ['', 'empty'],
    ['.hidden', 'leading dot'],
    ['..', 'dot-dot'],
    ['-rf', 'leading dash'],
    ['a/b', 'slash'],
    ['../x', 'directory escape'],
    ['a b', 'space'],
    ["it's", 'quote'],
    ['a\nb', 'newline'],
    ['a\0b', 'NUL'],
    ['x'.repeat(201), 'too long'],
    ['a:b', 'colon (runc refuses)'],
    ['a+b', 'plus (systemd refuses)'],
    ['svc@1', '@ (runc refuses it at start)'],
    ['precious.service', 'unit suffix .service'],
    ['foo.target', 'unit suffix .target'],
    ['x.socket', 'unit suffix .socket'],
    ['m.mount', 'unit suffix .mount'],
    ['t.timer', 'unit suffix .timer'],
    ['s.slice', 'unit suffix .slice'],
    ['s.scope', 'unit suffix .scope'],
    ['p.path', 'unit suffix .path'],
    ['d.device', 'unit suffix .device'],
    ['sw.swap', 'unit suffix .swap'],
    ['am.automount', 'unit suffix .automount'],
    ['é', 'non-ASCII'],
  ];
  for (const [n, why] of bad) {
    it(`refuses ${why}: ${JSON.stringify(n.slice(0, 20))}`, () => {
      hostile++;
      assert.equal(code(() => validateContainerName(n)), 'USAGE');
      assert.equal(isValidContainerName(n), false);
    });
  }
  it('accepts ordinary names, names ending in .0/.1 and names derived from tags', () => {
    for (const g of ['etcd', 'etcd-27', 'systest-1.0', 'a_b', '_x', 'container.0', 'app.1', 'x'.repeat(200), 'service', 'my.services']) {
      assert.equal(code(() => validateContainerName(g)), 'OK', g);
    }
    assert.equal(defaultSystemName('reg.example.com/app:1.0'), 'app-1.0');
    assert.equal(code(() => validateContainerName(defaultSystemName('reg.example.com/app:1.0'))), 'OK');
  });
  it('names derived from hostile image names are refused too', () => {
    hostile++;
    assert.equal(code(() => validateContainerName(defaultSystemName('reg.example.com/precious.service'))), 'USAGE');
    assert.equal(code(() => validateContainerName(defaultSystemName('reg.example.com/foo:target'))), 'OK'); // foo-target
  });
  it('unitName always addresses NAME.service', () => {
    assert.equal(unitName('hello'), 'hello.service');
    assert.equal(unitName('app.0'), 'app.0.service');
    assert.equal(code(() => unitName('foo.target')), 'USAGE');
  });
  it('slotCollision: app vs app.0 / app.1 and the reverse', () => {
    const ck = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-names-'));
    try {
      fs.mkdirSync(path.join(ck, 'app.0'));
      fs.symlinkSync(path.join(ck, 'app.0'), path.join(ck, 'app'));
      assert.equal(slotCollision(ck, 'app.0'), 'app');
      assert.equal(slotCollision(ck, 'app.1'), 'app');
      assert.equal(slotCollision(ck, 'app'), null);
      assert.equal(slotCollision(ck, 'app.2'), null);
      fs.mkdirSync(path.join(ck, 'web.1.0'));
      fs.symlinkSync(path.join(ck, 'web.1.0'), path.join(ck, 'web.1'));
      assert.equal(slotCollision(ck, 'web'), 'web.1');
      assert.equal(slotCollision(ck, 'web.1'), null);
    } finally {
      fs.rmSync(ck, { recursive: true, force: true });
    }
  });
});
