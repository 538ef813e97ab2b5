set -x
FX=$(ls -d /tmp/atomic-fixtures-* 2>/dev/null | head -1)
useradd -m -u 2345 -s /bin/sh atomicsys
systemctl start user@2345.service; systemctl is-active user@2345.service
ls -la /run/user/2345
U="runuser -u atomicsys -- env XDG_RUNTIME_DIR=/run/user/2345 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/2345/bus HOME=/home/atomicsys"
$U systemctl --user is-system-running
cp -a /var/tmp/fx-copy /tmp/fxu 2>/dev/null
$U node /work/main/bin/run.js install --user --name hu --set PORT=18600 oci:/tmp/fxu/oci:systest
cat /home/atomicsys/.config/systemd/user/hu.service | head -12
$U systemctl --user start hu; sleep 1; $U systemctl --user is-active hu
curl -s 127.0.0.1:18600/
$U systemctl --user status --no-pager hu | tail -15
