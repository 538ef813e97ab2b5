#!/usr/bin/env bash
# The compat suite: upstream projectatomic/atomic's system-container integration tests, ported
# (test_system_containers_{install,runtime,images,pull}.sh), run against our CLI inside a real
# systemd. Started by scripts/test-compat.sh through ../shared/systemd-harness/with-systemd with a
# private network (upstream's images listen on 8081; the registry takes 5000).
# Per script: a fresh WORK_DIR (repo + checkouts, as upstream's test.sh), SECRET as upstream.
# Prints per-script counts of assertions and steps passed, the known-pending assertions (waiting
# for another branch; recorded, not fatal) and exits 1 if any script failed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${ATOMIC_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}
[ "$(cat /proc/1/comm)" = systemd ] || { echo "compat: run me through scripts/test-compat.sh (needs systemd as PID 1)" >&2; exit 1; }

W=$(mktemp -d /var/tmp/atomic-compat.XXXXXX)
OUT=${COMPAT_OUT:-$W/out}
mkdir -p "$OUT" "$W/bin"
# containers-storage of buildah/podman/skopeo: our own vfs store (overlay cannot nest in the
# harness' overlay root, and the host's store must not be touched)
cat > "$W/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$W/storage"
runroot = "$W/storage-run"
CONF
export CONTAINERS_STORAGE_CONF=$W/storage.conf
export PATH=$W/bin:$PATH

# `atomic` on PATH, as upstream's test.sh used it (ATOMIC="atomic\n--debug")
cat > "$W/bin/atomic" <<SH
#!/bin/sh
exec "$(command -v node)" "$ROOT/bin/run.js" "\$@"
SH
chmod +x "$W/bin/atomic"
export ATOMIC=$'atomic\n--debug' ATOMIC_NO_DEBUG=atomic
# upstream's tests call `--runtime /usr/bin/runc` (Fedora's path); Debian installs /usr/sbin/runc.
# The harness root is a throw-away overlay: give it Fedora's path too.
[ -e /usr/bin/runc ] || ln -s "$(command -v runc)" /usr/bin/runc

# Docker Hub -> the local registry (busybox is upstream's only Docker Hub image)
export REG_DIR=$W/registry REG_PORT=5000
cat > "$W/registries.conf" <<CONF
unqualified-search-registries = ["docker.io"]
[[registry]]
prefix = "docker.io"
location = "127.0.0.1:$REG_PORT"
insecure = true
CONF
export CONTAINERS_REGISTRIES_CONF=$W/registries.conf

t0=$SECONDS; echo "compat: building upstream's test images (buildah) ..."
bash "$HERE/images/build-images.sh" "$W/images" > "$OUT/build-images.log" 2>&1 || { cat "$OUT/build-images.log"; exit 1; }
bash "$SHARED/fixtures/registry.sh" start > /dev/null
trap 'bash "$SHARED/fixtures/registry.sh" stop > /dev/null 2>&1 || true' EXIT
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$W/images/busybox:latest" "docker://127.0.0.1:$REG_PORT/busybox:latest"

echo "compat: images built and registry up in $((SECONDS - t0))s"
SECRET=$(dd if=/dev/urandom bs=4096 count=1 2> /dev/null | sha256sum)
export SECRET COMPAT_SHARED=$SHARED

failed=0
total_pass=0 total_steps=0 total_pending_fail=0 total_pending_pass=0
: > "$OUT/pending.txt"
for t in ${COMPAT_TESTS:-install runtime images pull migration}; do
  f=$HERE/test_system_containers_$t.sh
  [ $t = migration ] && f=$HERE/test_migration_from_atomic.sh
  export WORK_DIR; WORK_DIR=$(mktemp -d "$W/work-$t.XXXX")
  export COMPAT_RESULTS=$OUT/$t.results
  : > "$COMPAT_RESULTS"
  rc=0; t0=$SECONDS
  (cd "$WORK_DIR" && bash -x "$f") > "$OUT/$t.log" 2>&1 || rc=$?
  pass=$(grep -c '^PASS' "$COMPAT_RESULTS" || true)
  steps=$(grep -c '^STEP' "$COMPAT_RESULTS" || true)
  pf=$(grep -c '^PENDING-FAIL' "$COMPAT_RESULTS" || true)
  pp=$(grep -c '^PENDING-PASS' "$COMPAT_RESULTS" || true)
  total_pass=$((total_pass + pass)); total_steps=$((total_steps + steps))
  total_pending_fail=$((total_pending_fail + pf)); total_pending_pass=$((total_pending_pass + pp))
  grep '^PENDING' "$COMPAT_RESULTS" >> "$OUT/pending.txt" || true
  if [ $rc = 0 ]; then
    printf 'compat: %-40s PASS  %3d assertions, %3d steps passed; pending: %d failing, %d passing (%ds)\n' "$(basename "$f")" "$pass" "$steps" "$pf" "$pp" $((SECONDS - t0))
  else
    failed=1
    printf 'compat: %-40s FAIL (exit %d) after %d assertions, %d steps (%ds)\n' "$(basename "$f")" "$rc" "$pass" "$steps" $((SECONDS - t0))
    grep '^FAIL' "$COMPAT_RESULTS" | sed 's/^/    /' || true
    echo "    --- last lines of $t.log:"; grep -v '^++' "$OUT/$t.log" | tail -25 | sed 's/^/    | /'
  fi
done
echo "compat: total $total_pass assertions and $total_steps steps passed"
if [ -s "$OUT/pending.txt" ]; then
  echo "compat: known-pending assertions (another branch's item; not counted as failures):"
  sed 's/^/    /' "$OUT/pending.txt"
fi
[ -n "${COMPAT_OUT:-}" ] || rm -rf "$W"
exit $failed
