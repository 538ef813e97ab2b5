#!/bin/bash -x
# Migration: a store and deployments laid out exactly as atomic 1.22 + skopeo (ostree: transport)
# wrote them, made here with the real `ostree` CLI and atomic's own rendering rules
# (string.Template.safe_substitute, atomic's unit lines and info keys; see
# ../shared/reference/atomic-system-containers.md §2), then listed, updated, rolled back and
# uninstalled by our CLI under a real systemd. Two containers: `hello` and `hello-1.0`, the name
# atomic derived from the tag 1.0 (so its deployments are hello-1.0.0 / hello-1.0.1).
set -euo pipefail
IFS=$'\n\t'

. "$(dirname "$0")/lib/system_containers_setup.sh"
REPO=$ATOMIC_OSTREE_REPO CK=$ATOMIC_OSTREE_CHECKOUT_PATH
rm -rf "$REPO"; ostree --repo="$REPO" init --mode=bare      # atomic's /ostree/repo is bare
FX=${WORK_DIR}/fx
bash "${COMPAT_SHARED:?}/fixtures/make-images.sh" "$FX" > /dev/null 2>&1

blob() { echo "$FX/oci/blobs/sha256/${1#sha256:}"; }
# skopeo's ostree destination: one commit per layer (ref ociimage/<blob hex>), the config as
# /content (ref ociimage/<config hex>), the manifest as /manifest/manifest.json with
# docker.manifest and docker.digest (ref ociimage/<encoded name>)
skopeo_to_ostree() { # TAG NAME ENCODED
    local mdig m cfg l hex t
    mdig=$(jq -r --arg t "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$FX/oci/index.json")
    m=$(blob "$mdig")
    for l in $(jq -r '.layers[].digest' "$m"); do
        hex=${l#sha256:}
        ostree --repo="$REPO" refs | grep -qx "ociimage/$hex" && continue
        ostree --repo="$REPO" commit -b "ociimage/$hex" --tree=tar="$(blob "$l")" --no-xattrs \
            --add-metadata-string=docker.size="$(stat -c%s "$(blob "$l")")" \
            --add-metadata-string=docker.uncompressed_size="$(gzip -dc "$(blob "$l")" | wc -c)" \
            --add-metadata-string=docker.uncompressed_digest="sha256:$(gzip -dc "$(blob "$l")" | sha256sum | cut -d' ' -f1)" > /dev/null
    done
    cfg=$(jq -r '.config.digest' "$m")
    t=$(mktemp -d); cp "$(blob "$cfg")" "$t/content"
    ostree --repo="$REPO" commit -b "ociimage/${cfg#sha256:}" --tree=dir="$t" --add-metadata-string=docker.size="$(stat -c%s "$(blob "$cfg")")" > /dev/null
    rm -rf "$t"; t=$(mktemp -d); mkdir "$t/manifest"; cp "$m" "$t/manifest/manifest.json"
    ostree --repo="$REPO" commit -b "ociimage/$3" --tree=dir="$t" \
        --add-metadata-string=docker.manifest="$(cat "$m")" --add-metadata-string=docker.digest="$mdig" > /dev/null
    rm -rf "$t"
}
skopeo_to_ostree systest systest:latest systest_3Alatest
skopeo_to_ostree systest-update systest-update:latest systest-update_3Alatest

# atomic install --system --name NAME --set PORT=P systest:latest, as atomic 1.22 laid it out
atomic_install() { # NAME PORT
    local name=$1 port=$2 dest=$CK/$1.0 mdig commit l
    commit=$(ostree --repo="$REPO" rev-parse ociimage/systest_3Alatest)
    mdig=$(ostree --repo="$REPO" show --print-metadata-key=docker.digest ociimage/systest_3Alatest | tr -d "'")
    mkdir -p "$dest"
    for l in $(ostree --repo="$REPO" show --print-metadata-key=docker.manifest ociimage/systest_3Alatest | $PYTHON -c 'import ast,json,sys; print("\n".join(x["digest"][7:] for x in json.loads(ast.literal_eval(sys.stdin.read()))["layers"]))'); do
        ostree --repo="$REPO" checkout --union -H "ociimage/$l" "$dest/rootfs"
    done
    NAME=$name PORT=$port DEST=$dest MDIG=$mdig COMMIT=$commit RUNTIME=$(readlink -f /usr/bin/runc) $PYTHON - <<'PY'
import json, os, string, time, uuid
n, dest = os.environ["NAME"], os.environ["DEST"]
rt = "/usr/bin/runc"
ex = os.path.join(dest, "rootfs", "exports")
values = {"RECEIVER": "World", "PORT": os.environ["PORT"], "RUN_DIRECTORY": "/run", "STATE_DIRECTORY": "/var/lib",
          "CONF_DIRECTORY": "/etc", "PIDFILE": "/run/container-%s.pid" % n, "UUID": str(uuid.uuid4()),
          "RUNTIME": rt, "ATOMIC": "/usr/bin/atomic", "DESTDIR": dest, "NAME": n,
          "EXEC_START": "%s --systemd-cgroup run '%s'" % (rt, n), "EXEC_STOP": "%s --systemd-cgroup kill '%s'" % (rt, n),
          "EXEC_STARTPRE": "", "EXEC_STOPPOST": "", "HOST_UID": "0", "HOST_GID": "0",
          "IMAGE_NAME": "systest:latest", "IMAGE_ID": os.environ["MDIG"][7:]}
def render(src, dst):
    with open(src) as f: t = string.Template(f.read()).safe_substitute(values)
    with open(dst, "w") as f: f.write(t)
render(os.path.join(ex, "config.json.template"), os.path.join(dest, "config.json"))
render(os.path.join(ex, "service.template"), os.path.join(dest, "%s.service" % n))
render(os.path.join(ex, "tmpfiles.template"), os.path.join(dest, "tmpfiles-%s.conf" % n))
info = {"image": "systest:latest", "revision": os.environ["MDIG"][7:], "ostree-commit": os.environ["COMMIT"],
        "created": int(time.time()), "values": values, "has-container-service": True, "installed-files": [],
        "installed-files-checksum": {}, "installed-files-template": [], "rename-installed-files": {},
        "rpm-installed": None, "system-package": "no", "remote": None, "use-links": True, "runtime": rt}
with open(os.path.join(dest, "info"), "w") as f: f.write(json.dumps(info, indent=4))
PY
    cp "$dest/$name.service" "/etc/systemd/system/$name.service"
    cp "$dest/tmpfiles-$name.conf" "/etc/tmpfiles.d/$name.conf"
    ln -s "$dest" "$CK/$name"
    systemctl daemon-reload; systemd-tmpfiles --create "/etc/tmpfiles.d/$name.conf"; systemctl enable "$name" 2>/dev/null
}

teardown() {
    set +o pipefail
    for n in hello hello-1.0; do
        systemctl stop $n &> /dev/null || true
        systemctl disable $n &> /dev/null || true
        rm -rf /etc/systemd/system/$n.service /etc/tmpfiles.d/$n.conf || true
    done
}
trap teardown EXIT

atomic_install hello 8181
atomic_install hello-1.0 8182
check ostree --repo="$REPO" fsck -q

for N in hello hello-1.0; do
    # listed
    step ${ATOMIC} containers list -a --no-trunc > ${WORK_DIR}/ps.out
    check grep -E "^ +$N +systest:latest +$N " ${WORK_DIR}/ps.out
    step ${ATOMIC} images list > ${WORK_DIR}/images.out
    assert_matches "systest-update" ${WORK_DIR}/images.out
    step systemctl start $N
    step ${ATOMIC} containers list --no-trunc > ${WORK_DIR}/ps.out
    check grep -E "^ +$N .* running " ${WORK_DIR}/ps.out
    # updated (rebase to the other image), still running, values kept
    step ${ATOMIC} containers update --rebase systest-update:latest $N
    check test "$(readlink $CK/$N)" = "$CK/$N.1"
    assert_matches "systest-update" $CK/$N/info
    check grep -q "\"PORT\": \"818" $CK/$N.1/info
    check systemctl is-active -q $N
    check test "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["values"]["UUID"])' $CK/$N.0/info)" = "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["values"]["UUID"])' $CK/$N.1/info)"
    # rolled back to atomic's deployment
    step ${ATOMIC} containers rollback $N
    check test "$(readlink -f $CK/$N)" = "$CK/$N.0"
    check systemctl is-active -q $N
    # uninstalled: nothing left
    step ${ATOMIC} uninstall $N
    check test \! -e $CK/$N
    check test \! -e $CK/$N.0
    check test \! -e $CK/$N.1
    check test \! -e /etc/systemd/system/$N.service
    check test \! -e /etc/tmpfiles.d/$N.conf
done
check ostree --repo="$REPO" fsck -q
