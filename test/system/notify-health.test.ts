/**
 * healthCheck `notify` under a real systemd with real runc: the unit is rendered `Type=notify`
 * (`NotifyAccess=all`), systemd hands `$NOTIFY_SOCKET` to the unit's foreground `runc run`, runc
 * proxies it into the container (/run/notify/notify.sock) and passes the service's READY=1 on.
 * The images are built here from the systest fixture with a tiny static sd_notify client (cc
 * -static; busybox has no AF_UNIX datagram client):
 *   notify-ready  serves, then sends READY=1: the update switches
 *   notify-never  serves but never sends READY=1: the unit stays activating, the update is
 *                 rolled back (exit 8) and the image quarantined
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { fixtureImages } from '../helpers/fixtures.js';
import { underSystemd, atomicHost, freePort, waitHttp, systemctl, unitState, sh } from '../helpers/system.js';
import { ok, umociVariant, setManifestHealth, quarantineEntries } from '../helpers/image-variant.js';

const CK = '/var/lib/containers/atomic';
const NAME = 'notified';
const DIR = '/tmp/atomic-systest-notify';

const NOTIFY_C = `#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
/* sd-notify [MESSAGE]: send MESSAGE (default READY=1) to $NOTIFY_SOCKET, like systemd-notify */
int main(int argc, char **argv) {
  const char *path = getenv("NOTIFY_SOCKET");
  const char *msg = argc > 1 ? argv[1] : "READY=1";
  struct sockaddr_un a;
  int fd;
  if (!path || !*path) return 2;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  if (a.sun_path[0] == '@') a.sun_path[0] = 0;
  fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (fd < 0) return 3;
  if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a) < 0) return 4;
  return 0;
}
`;

function variant(tag: string, helper: string, ready: boolean): void {
  umociVariant(DIR, tag, (r) => {
    fs.copyFileSync(helper, `${r}/usr/bin/sd-notify`);
    fs.chmodSync(`${r}/usr/bin/sd-notify`, 0o755);
    const run = fs.readFileSync(`${r}/usr/bin/run.sh`, 'utf8').replace(/from systest 1\.0/g, `from systest ${tag}`);
    // READY=1 once httpd answers (or never)
    const notify = ready
      ? 'until wget -q -O /dev/null "http://127.0.0.1:${PORT:-8081}/version"; do sleep 0.1; done\n/usr/bin/sd-notify READY=1 || echo "sd-notify failed: $?"\n'
      : '';
    fs.writeFileSync(`${r}/usr/bin/run.sh`, run.replace('pid=$!\n', `pid=$!\n${notify}`), { mode: 0o755 });
    setManifestHealth(r, { type: 'notify' });
  });
}

const quarantined = (): string[] => quarantineEntries(CK, NAME).map((q) => q.image);

describe('system: healthCheck notify (sd_notify READY=1 through runc)', function () {
  this.timeout(600_000);
  let port: number;

  before(async function () {
    assert.ok(underSystemd(), 'the system suite runs only inside the systemd harness: use `npm run test:system`');
    const fx = fixtureImages();
    fs.rmSync(DIR, { recursive: true, force: true });
    fs.mkdirSync(DIR, { recursive: true });
    fs.writeFileSync(`${DIR}/sd-notify.c`, NOTIFY_C);
    execFileSync('cc', ['-static', '-Os', '-o', `${DIR}/sd-notify`, `${DIR}/sd-notify.c`]);
    ok(sh('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${fx}/oci:systest`, `oci:${DIR}/oci:systest`]), 'skopeo copy');
    variant('notify-ready', `${DIR}/sd-notify`, true);
    variant('notify-never', `${DIR}/sd-notify`, false);
    port = await freePort();
  });

  after(() => {
    atomicHost(['uninstall', NAME]);
  });

  it('install the 1.0 image and start it', async () => {
    ok(atomicHost(['install', '--system', '--name', NAME, '--set', `PORT=${port}`, `oci:${DIR}/oci:systest`]), 'install');
    ok(systemctl('start', NAME), 'start');
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest 1.0\n');
  });

  it('an image that never sends READY=1 is rolled back: exit 8, 1.0 serves again, the image is quarantined', async () => {
    const t0 = Date.now();
    const r = atomicHost(['containers', 'update', '--watch', '5', '--rebase', `oci:${DIR}/oci:notify-never`, NAME]);
    assert.equal(r.status, 8, `exit 8 expected:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^Watching notified\.service for 5 s: unit becomes active when the service sends READY=1 \(sd_notify\)/m);
    assert.match(r.stderr, /notified\.service did not report READY=1 \(sd_notify\) within 5 s: it is still activating/);
    assert.equal(fs.readlinkSync(`${CK}/${NAME}`), `${CK}/${NAME}.0`);
    assert.equal(unitState(NAME), 'active');
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest 1.0\n');
    assert.equal(quarantined().filter((q) => q.includes('notify-never')).length, 1);
    console.log(`      never READY: rolled back in ${((Date.now() - t0) / 1000).toFixed(1)} s (watch 5 s; the unready unit's stop is bounded by TimeoutStopSec)`);
  });

  it('an image that sends READY=1 switches; its unit is Type=notify and systemctl restart returns once it is ready', async () => {
    const r = atomicHost(['containers', 'update', '--watch', '4', '--rebase', `oci:${DIR}/oci:notify-ready`, NAME]);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^notified\.service is healthy on \/var\/lib\/containers\/atomic\/notified\.1$/m);
    const unit = fs.readFileSync(`/etc/systemd/system/${NAME}.service`, 'utf8');
    assert.match(unit, /^\[Service\]\nType=notify\nNotifyAccess=all\nTimeoutStopSec=20\n/m);
    assert.equal(unitState(NAME), 'active');
    assert.equal(await waitHttp(port, /Hello/), 'Hello World from systest notify-ready\n');
    // a blocking restart returns only after READY=1: the service answers at once
    ok(systemctl('restart', NAME), 'restart');
    assert.equal(unitState(NAME), 'active');
    assert.equal(await waitHttp(port, /Hello/, 1000), 'Hello World from systest notify-ready\n');
  });
});
