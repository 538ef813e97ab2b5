#!/usr/bin/env bash
# npm run demo: build the bundled example image (exports-examples/hello-web) as an OCI layout,
# pull it into a scratch OSTree store under a scratch sysroot, and inspect it with the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /bin/busybox ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static >/dev/null 2>&1 || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static >/dev/null; }
  else
    echo "demo: /bin/busybox is missing: apt-get install busybox-static (as root)" >&2; exit 1
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
step "atomic pull --storage ostree --name $IMG oci:$SCRATCH/oci:1.0"
$A pull --storage ostree --name "$IMG" "oci:$SCRATCH/oci:1.0"
step "atomic pull --storage ostree --name $IMG oci:$SCRATCH/oci:1.0   # again: nothing to fetch"
$A pull --storage ostree --name "$IMG" "oci:$SCRATCH/oci:1.0"
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
echo
echo "Scratch sysroot kept at $ATOMIC_SYSROOT (remove it with: rm -rf $SCRATCH)"
