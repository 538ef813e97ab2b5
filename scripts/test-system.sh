#!/usr/bin/env bash
# npm run test:system — the system suite (test/system) and the compatibility suite (test/compat)
# inside a throw-away systemd:
# ../shared/systemd-harness/with-systemd boots systemd as PID 1 (systemd-nspawn over a tmpfs
# overlay of /) and runs mocha on dist/test/{system,compat} there, with the project bind-mounted.
# Needs root. WITH_SYSTEMD overrides the harness path; extra arguments go to mocha.
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=${WITH_SYSTEMD:-$(cd .. && pwd)/shared/systemd-harness/with-systemd}
if [ "$(id -u)" != 0 ]; then
  echo "test:system: needs root (the harness boots systemd in systemd-nspawn)" >&2
  exit 1
fi
[ -x "$HARNESS" ] || { echo "test:system: harness not found at $HARNESS (set WITH_SYSTEMD)" >&2; exit 1; }
export WITH_SYSTEMD_STOP_TIMEOUT=${WITH_SYSTEMD_STOP_TIMEOUT:-20}
# The harness binds only the working directory: its /tmp and /run are fresh tmpfs mounts, so a
# clone under /tmp would not see ../shared (fixtures, registry, vectors). Bind it explicitly.
SHARED_DIR=${ATOMIC_SHARED_DIR:-$(cd .. && pwd)/shared}
[ -d "$SHARED_DIR" ] || { echo "${0##*/}: the shared fixtures are not at $SHARED_DIR (set ATOMIC_SHARED_DIR)" >&2; exit 1; }
export WITH_SYSTEMD_BIND="${WITH_SYSTEMD_BIND:+$WITH_SYSTEMD_BIND }$SHARED_DIR"
# default: the system suite and the compatibility suite (real clients: Ansible's atomic modules, ...)
[ $# -gt 0 ] || set -- 'dist/test/system/**/*.test.js' 'dist/test/compat/**/*.test.js'
exec "$HARNESS" node node_modules/mocha/bin/mocha.js --forbid-only --timeout 600000 "$@"
