cd /work/main
A="node bin/run.js"
t() { echo "[$(date +%s.%N | cut -c7-14)] $*"; }
$A install --system --name hello --set PORT=18557 docker://127.0.0.1:15300/fixtures/systest:latest >/dev/null
systemctl start hello; sleep 1
t update-set; $A containers update --set PORT=18558 hello >/dev/null; t done
sleep 1
t rebase; $A containers update --rebase docker://127.0.0.1:15300/fixtures/systest-update hello ; t done
for v in stop start restart; do t $v; systemctl $v hello; t done; done
sleep 1; curl -s 127.0.0.1:18558/
t rollback; timeout 20 $A containers rollback hello; t done
systemctl status --no-pager hello | head; journalctl --no-pager -u hello | tail -20
