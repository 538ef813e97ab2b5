#!/usr/bin/env bash
# Builds upstream's integration-test images (projectatomic/atomic tests/test-images/Dockerfile.{system,
# system-update,runonce}) into the local containers-storage with buildah, so `podman save` (our
# `docker:` transport) and `podman tag` stand in for the docker daemon of upstream's tests.
# Port: FROM centos (+ nmap-ncat) becomes a busybox-static root (no network, no yum); the files in
# /exports and /usr/bin are upstream's, run.sh adapted to busybox nc. Also builds `busybox`
# (the image upstream pulled from Docker Hub) as an OCI layout for the local registry.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: build-images.sh OUTDIR}
BUSYBOX=${BUSYBOX:-/bin/busybox}
mkdir -p "$OUT"

base_rootfs() { # base_rootfs DIR
  local d=$1
  mkdir -p "$d/bin" "$d/usr/bin" "$d/etc" "$d/tmp" "$d/var/run" "$d/proc" "$d/sys" "$d/dev"
  cp "$BUSYBOX" "$d/bin/busybox"
  for a in sh cat echo env ls mkdir rm sleep nc printf kill id hostname date true false test ps wait; do
    ln -sf busybox "$d/bin/$a"
  done
  ln -sf ../../bin/busybox "$d/usr/bin/env"
  chmod 1777 "$d/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$d/etc/passwd"
  printf 'root:x:0:\n' > "$d/etc/group"
}

build() { # build NAME FILESDIR [label...] -- file:dest...
  local name=$1 files=$2; shift 2
  local labels=() adds=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do labels+=(--label "$1"); shift; done
  shift
  adds=("$@")
  local root; root=$(mktemp -d /var/tmp/compat-img.XXXXXX)
  base_rootfs "$root"
  local a
  for a in "${adds[@]}"; do
    local src=${a%%:*} dst=${a#*:}
    mkdir -p "$root$(dirname "$dst")"
    if [ "${dst: -1}" = / ]; then mkdir -p "$root$dst"; cp "$files/$src" "$root$dst"; else cp "$files/$src" "$root$dst"; fi
  done
  local c; c=$(buildah from scratch)
  buildah copy --quiet "$c" "$root" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/sh "${labels[@]}" "$c"
  buildah commit --quiet --format docker "$c" "localhost/$name:latest" >/dev/null
  buildah rm "$c" >/dev/null
  rm -rf "$root"
  echo "built $name"
}

S=$HERE/system-container-files
build atomic-test-system "$S" Name=atomic-test-system -- \
  run.sh:/usr/bin/ greet.sh:/usr/bin/ \
  tmpfiles.template:/exports/ manifest.json:/exports/ service.template:/exports/ config.json.template:/exports/
U=$HERE/system-container-update-files
build atomic-test-system-update "$U" Name=atomic-test-system-update 'summary=Updated system container image' atomic.type=system -- \
  run.sh:/usr/bin/ greet.sh:/usr/bin/ \
  tmpfiles.template:/exports/ manifest.json:/exports/ service.template:/exports/ config.json.template:/exports/
O=$HERE/system-container-runonce-files
build atomic-test-runonce "$O" Name=atomic-test-runonce atomic.run=once atomic.type=system -- \
  hi.sh:/usr/bin/run.sh manifest.json:/exports/ config.json.template:/exports/
# busybox: what upstream pulled from Docker Hub; served by the local registry as docker.io/library/busybox
root=$(mktemp -d /var/tmp/compat-img.XXXXXX); base_rootfs "$root"
c=$(buildah from scratch); buildah copy --quiet "$c" "$root" / >/dev/null
buildah config --cmd sh "$c"; buildah commit --quiet "$c" localhost/busybox:latest >/dev/null; buildah rm "$c" >/dev/null; rm -rf "$root"
rm -rf "$OUT/busybox"; skopeo --insecure-policy copy -q containers-storage:localhost/busybox:latest "oci:$OUT/busybox:latest"
echo "built busybox"
