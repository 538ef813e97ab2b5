set -x
cd /work/main
A="node bin/run.js"
$A install --system --name hello --set RECEIVER=Mars --set PORT=18555 docker://127.0.0.1:15300/fixtures/systest:latest
cat /etc/systemd/system/hello.service
cat /etc/tmpfiles.d/hello.conf
systemctl start hello; systemctl is-active hello
sleep 1
curl -s 127.0.0.1:18555/
$A containers list
systemctl status --no-pager hello | head -20
runc list
systemctl stop hello; systemctl is-active hello; runc list
systemctl start hello; sleep 0.5; curl -s 127.0.0.1:18555/
systemctl kill -s KILL hello; sleep 1; systemctl is-active hello; runc list
systemctl start hello; sleep 0.5; systemctl is-active hello; journalctl --no-pager -u hello | tail -5
$A uninstall hello
runc list; systemctl list-unit-files | grep hello
