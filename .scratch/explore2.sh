cd /work/main
A="node bin/run.js"
$A install --system --name hello --set PORT=18556 docker://127.0.0.1:15300/fixtures/systest:latest >/dev/null
B=/var/lib/containers/atomic/hello.0
form() { # name start stop stoppost extra
cat > /etc/systemd/system/hello.service <<EOT
[Unit]
Description=hello

[Service]
ExecStart=$2
ExecStop=$3
ExecStopPost=$4
Restart=on-failure
WorkingDirectory=$B
$5
EOT
systemctl daemon-reload
echo "=== $1"
systemctl start hello; sleep 0.7; echo "active=$(systemctl is-active hello) http=$(curl -s -m1 127.0.0.1:18556/)"
systemctl show -p MainPID -p Type hello | tr '\n' ' '; echo
pid=$(runc state hello 2>/dev/null | sed -n 's/.*"pid": \([0-9]*\).*/\1/p'); echo "container pid=$pid cgroup=$(cat /proc/$pid/cgroup 2>/dev/null)"
systemctl restart hello; sleep 0.7; echo "after restart active=$(systemctl is-active hello) http=$(curl -s -m1 127.0.0.1:18556/)"
systemctl stop hello; echo "after stop: active=$(systemctl is-active hello) runc=$(runc list -q | tr '\n' ' ') http=$(curl -s -m1 127.0.0.1:18556/)"
systemctl start hello; sleep 0.7
mp=$(systemctl show -p MainPID --value hello); echo "kill -9 main pid $mp ($(cat /proc/$mp/comm))"; kill -9 $mp; sleep 1.5
echo "after kill: active=$(systemctl is-active hello) runc=$(runc list -q | tr '\n' ' ') http=$(curl -s -m1 127.0.0.1:18556/)"
systemctl stop hello; echo "after stop2: active=$(systemctl is-active hello) runc=$(runc list -q | tr '\n' ' ') http=$(curl -s -m1 127.0.0.1:18556/)"
systemctl start hello; sleep 0.7;echo "start3 active=$(systemctl is-active hello) http=$(curl -s -m1 127.0.0.1:18556/)"
systemctl stop hello
runc delete -f hello 2>/dev/null; systemctl reset-failed hello 2>/dev/null
}
form fg-sd "/usr/bin/runc --systemd-cgroup run 'hello'" "/usr/bin/runc --systemd-cgroup kill 'hello'" "" ""
form fg-fs "/usr/bin/runc run 'hello'" "/usr/bin/runc kill 'hello'" "" ""
form det-sd "/usr/bin/runc  --systemd-cgroup run -d --pid-file /run/container-hello.pid 'hello'" "" "/usr/bin/runc delete 'hello'" "PIDFile=/run/container-hello.pid"
form det-fs "/usr/bin/runc  run -d --pid-file /run/container-hello.pid 'hello'" "" "/usr/bin/runc delete 'hello'" "PIDFile=/run/container-hello.pid"
