import { strict as assert } from 'node:assert';
import { withNotifyType, checkNotifyExecForm } from '../../../src/render/notify-unit.js';
import { parseHealthFlag, manifestHealth } from '../../../src/deploy/health-spec.js';

describe('healthCheck notify: the unit', () => {
  it("puts Type=notify and NotifyAccess=all first in [Service], replacing the template's Type= and NotifyAccess=", () => {
    const unit = '[Unit]\nDescription=x\n\n[Service]\nType=simple\nExecStart=/bin/true\nNotifyAccess=main\n\n[Install]\nWantedBy=multi-user.target\nType=kept-outside-service\n';
    assert.equal(
      withNotifyType(unit, 'f'),
      '[Unit]\nDescription=x\n\n[Service]\nType=notify\nNotifyAccess=all\nTimeoutStopSec=20\nExecStart=/bin/true\n\n[Install]\nWantedBy=multi-user.target\nType=kept-outside-service\n',
    );
  });
  it('keeps a TimeoutStopSec= of the template, else stop timeout + 10 s', () => {
    assert.match(withNotifyType('[Service]\nTimeoutStopSec=5\n', 'f', 30), /^\[Service\]\nType=notify\nNotifyAccess=all\nTimeoutStopSec=5\n$/);
    assert.match(withNotifyType('[Service]\n', 'f', 30), /TimeoutStopSec=40/);
  });
  it('refuses a unit without [Service] and the detached runc form', () => {
    assert.throws(() => withNotifyType('[Unit]\nDescription=x\n', 'svc.template'), /svc\.template: healthCheck notify needs a \[Service\] section/);
    assert.throws(
      () => checkNotifyExecForm('/usr/bin/runc  run -d --pid-file /run/x.pid x', 'svc'),
      (e: Error & { code?: string }) => e.code === 'IMAGE_INVALID' && /foreground/.test(e.message),
    );
    checkNotifyExecForm("/bin/sh -c '/usr/bin/runc run x'", 'svc');
  });
  it('--health-check notify and manifest {"type":"notify"} give a notify check', () => {
    assert.equal(parseHealthFlag('notify').type, 'notify');
    assert.equal(manifestHealth({ type: 'notify' }, {}, 'f')?.type, 'notify');
  });
});
