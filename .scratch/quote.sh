cat > /etc/systemd/system/q.service <<'EOT'
[Service]
Type=oneshot
ExecStart=/bin/sh -c '\'/bin/echo\' delete -f etcd; exec \'/opt/it\'\\\'\'s/runc\' run $$HOME 50%% etcd'
EOT
systemctl daemon-reload; systemctl start q; journalctl --no-pager -u q | grep -v systemd
