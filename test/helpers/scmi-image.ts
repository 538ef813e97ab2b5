/** An SCMI-like image (centos-ssh's installer design): a shell `scmi` in /usr/sbin and its install/uninstall labels. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildExampleImage } from './example-image.js';

export const SCMI = `#!/bin/sh
# scmi: a small stand-in for centos-ssh's Service Container Manager Interface
action=$1; shift
chroot=/; name=ssh.1; tag=latest; manager=systemd; info=0; setopts=""
for a in "$@"; do
  case "$a" in
    --chroot=*) chroot=\${a#--chroot=} ;;
    --name=*) name=\${a#--name=} ;;
    --tag=*) tag=\${a#--tag=} ;;
    --manager=*) manager=\${a#--manager=} ;;
    --setopt=*) setopts="$setopts \${a#--setopt=}" ;;
    --info|-i) info=1 ;;
    *) echo "scmi: unknown option $a" >&2; exit 2 ;;
  esac
done
setopts=$(echo "$setopts" | sed "s/{{NAME}}/$name/g")
unit="$chroot/etc/systemd/system/centos-ssh.$name.service"
if [ "$info" = 1 ]; then
  echo "---> scmi $action info"
  echo "Name: $name"
  echo "Tag: $tag"
  echo "Manager: $manager"
  echo "Options:$setopts"
  echo "Unit: /etc/systemd/system/centos-ssh.$name.service"
  exit 0
fi
case "$action" in
  install)
    mkdir -p "$chroot/etc/systemd/system"
    printf '[Unit]\\nDescription=centos-ssh %s\\n\\n[Service]\\nExecStart=/usr/bin/docker run --name %s%s jdeathe/centos-ssh:%s\\n\\n[Install]\\nWantedBy=multi-user.target\\n' "$name" "$name" "$setopts" "$tag" > "$unit"
    echo "---> Installed $unit (running as uid $(id -u), privileged: $(grep -c . /proc/self/status >/dev/null && grep CapEff /proc/self/status))" ;;
  uninstall)
    rm -f "$unit"
    echo "---> Uninstalled $unit" ;;
  *) echo "scmi: unknown action $action" >&2; exit 2 ;;
esac
`;

export function scmiLabel(action: string, image: string): string {
  // centos-ssh's LABEL install=/uninstall= (Dockerfile), with this test's image name
  return `docker run --rm --privileged --volume /:/media/root ${image} /usr/sbin/scmi ${action} --chroot=/media/root --name=\${NAME} --tag=1.0 --setopt='--volume {{NAME}}.config-ssh:/etc/ssh'`;
}

export function scmiImage(work: string, tag: string, labels: Record<string, string>): string {
  return buildExampleImage('hello-web', work, tag, (d) => {
    fs.rmSync(path.join(d, 'rootfs', 'exports'), { recursive: true, force: true });
    fs.mkdirSync(path.join(d, 'rootfs', 'usr', 'sbin'), { recursive: true });
    fs.writeFileSync(path.join(d, 'rootfs', 'usr', 'sbin', 'scmi'), SCMI, { mode: 0o755 });
    const f = path.join(d, 'image.json');
    const j = JSON.parse(fs.readFileSync(f, 'utf8')) as { name: string; tag: string; config: Record<string, unknown> };
    j.name = tag;
    j.tag = 'latest';
    j.config = { ...j.config, Cmd: ['/bin/sh'], Labels: labels };
    fs.writeFileSync(f, JSON.stringify(j));
  });
}
