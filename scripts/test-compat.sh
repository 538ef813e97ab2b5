#!/usr/bin/env bash
# npm test (last step) — test/compat: upstream atomic's system-container integration tests, ported,
# against our CLI inside a throw-away systemd (../shared/systemd-harness/with-systemd) with a private
# network. Needs root. COMPAT_TESTS="install runtime" runs a subset; COMPAT_OUT=DIR keeps the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=${WITH_SYSTEMD:-$(cd .. && pwd)/shared/systemd-harness/with-systemd}
if [ "$(id -u)" != 0 ]; then echo "test:compat: needs root (the harness boots systemd in systemd-nspawn)" >&2; exit 1; fi
[ -x "$HARNESS" ] || { echo "test:compat: harness not found at $HARNESS (set WITH_SYSTEMD)" >&2; exit 1; }
export WITH_SYSTEMD_STOP_TIMEOUT=${WITH_SYSTEMD_STOP_TIMEOUT:-20} WITH_SYSTEMD_PRIVATE_NETWORK=1
# The harness binds only the working directory: its /tmp and /run are fresh tmpfs mounts, so a
# clone under /tmp would not see ../shared (fixtures, registry, vectors). Bind it explicitly.
SHARED_DIR=${ATOMIC_SHARED_DIR:-$(cd .. && pwd)/shared}
[ -d "$SHARED_DIR" ] || { echo "${0##*/}: the shared fixtures are not at $SHARED_DIR (set ATOMIC_SHARED_DIR)" >&2; exit 1; }
export WITH_SYSTEMD_BIND="${WITH_SYSTEMD_BIND:+$WITH_SYSTEMD_BIND }$SHARED_DIR"
if [ -n "${COMPAT_OUT:-}" ]; then mkdir -p "$COMPAT_OUT"; export WITH_SYSTEMD_BIND="${WITH_SYSTEMD_BIND:+$WITH_SYSTEMD_BIND }$COMPAT_OUT"; fi
exec "$HARNESS" bash test/compat/run.sh
