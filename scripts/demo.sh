#!/usr/bin/env bash
# npm run demo: build the bundled example image (exports-examples/hello-web) as an OCI layout,
# pull it into a scratch OSTree store under a scratch sysroot, inspect it, then install it as a
# system container (offline: systemctl --root), update it, roll it back and uninstall it.
set -euo pipefail
cd "$(dirname "$0")/.."
# tools the demo needs: busybox-static (the example image's userland), runc (checked by install),
# systemd's systemctl/systemd-tmpfiles (used offline with --root)
need=""
[ -x /bin/busybox ] || need="$need busybox-static"
command -v runc >/dev/null || [ -x /usr/sbin/runc ] || need="$need runc"
command -v systemctl >/dev/null || need="$need systemd"
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "demo: installing$need" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y $need >/dev/null 2>&1 || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y $need >/dev/null; }
  else
    echo "demo: missing$need: apt-get install$need (as root)" >&2; exit 1
  fi
fi
SCRATCH=$(mktemp -d /var/tmp/atomic-demo.XXXXXX)
export ATOMIC_SYSROOT="$SCRATCH/sysroot"
mkdir -p "$ATOMIC_SYSROOT"
A="node bin/run.js"
IMG=example.com/atomic/hello-web:1.0
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "node scripts/build-example-image.mjs exports-examples/hello-web $SCRATCH/oci"
node scripts/build-example-image.mjs exports-examples/hello-web "$SCRATCH/oci"
step "atomic pull --storage ostree oci:$SCRATCH/oci"
$A pull --storage ostree "oci:$SCRATCH/oci"
step "atomic pull --storage ostree oci:$SCRATCH/oci   # again: nothing to fetch"
$A pull --storage ostree "oci:$SCRATCH/oci"
step "atomic images list"
$A images list
step "atomic images list -a   # layers and config blob as <none> rows"
$A images list -a
step "atomic images info $IMG"
$A images info "$IMG"
step "atomic images version $IMG"
$A images version "$IMG"
step "atomic images verify $IMG"
$A images verify "$IMG"
REPO="$ATOMIC_SYSROOT/var/lib/containers/atomic/.storage/ostree"
if command -v ostree >/dev/null; then
  step "ostree fsck --repo=$REPO   # the real ostree reads our store"
  LC_ALL=C.UTF-8 ostree fsck --repo="$REPO"
  step "ostree refs --repo=$REPO"
  ostree refs --repo="$REPO"
fi
MNT="$SCRATCH/mnt"
mkdir -p "$MNT"
step "atomic mount $IMG $MNT && find $MNT/exports $MNT/usr"
$A mount "$IMG" "$MNT"
find "$MNT/exports" "$MNT/usr" | sort
step "atomic umount $MNT"
$A umount "$MNT"

# --- install, update and roll back a system container, offline in the scratch sysroot ---
mkdir -p "$ATOMIC_SYSROOT/etc/systemd/system" "$ATOMIC_SYSROOT/etc/tmpfiles.d"
CK="$ATOMIC_SYSROOT/var/lib/containers/atomic"
step "atomic install --system --name hello --set GREETING=Bonjour $IMG"
$A install --system --name hello --set GREETING=Bonjour "$IMG"
step "ls -l $CK   # hello -> hello.0"
ls -l "$CK"
step "cat $ATOMIC_SYSROOT/etc/systemd/system/hello.service"
cat "$ATOMIC_SYSROOT/etc/systemd/system/hello.service"
step "cat $ATOMIC_SYSROOT/etc/tmpfiles.d/hello.conf"
cat "$ATOMIC_SYSROOT/etc/tmpfiles.d/hello.conf"
step "atomic containers list -a"
$A containers list -a
step "atomic containers update --set PORT=8090 hello   # deploys into hello.1 and switches"
$A containers update --set PORT=8090 hello
step "ls -l $CK; grep -E 'Description|WorkingDirectory' $ATOMIC_SYSROOT/etc/systemd/system/hello.service"
ls -l "$CK"
grep -E 'Description|WorkingDirectory' "$ATOMIC_SYSROOT/etc/systemd/system/hello.service"
step "atomic containers rollback hello"
$A containers rollback hello
step "ls -l $CK; grep -E 'Description|WorkingDirectory' $ATOMIC_SYSROOT/etc/systemd/system/hello.service"
ls -l "$CK"
grep -E 'Description|WorkingDirectory' "$ATOMIC_SYSROOT/etc/systemd/system/hello.service"
LIVE="$CK/$(basename "$(readlink "$CK/hello")")"   # the link holds the path as the installed system sees it
step "find $LIVE -maxdepth 1; jq .values.GREETING,.values.PORT $LIVE/info"
find "$LIVE" -maxdepth 1 | sort
if command -v jq >/dev/null; then jq .values.GREETING,.values.PORT "$LIVE/info"; fi
step "atomic uninstall hello"
$A uninstall hello
step "ls $CK; ls $ATOMIC_SYSROOT/etc/systemd/system"
ls "$CK"
ls "$ATOMIC_SYSROOT/etc/systemd/system"
echo
echo "Scratch sysroot kept at $ATOMIC_SYSROOT (remove it with: rm -rf $SCRATCH)"
