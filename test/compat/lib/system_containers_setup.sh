# Port of projectatomic/atomic tests/integration/setup-scripts/system_containers_setup.sh.
# Upstream's assert_* helpers are kept (same grep semantics); each assertion is also recorded in
# $COMPAT_RESULTS (PASS/FAIL, or PENDING-PASS/PENDING-FAIL inside a `pending` block), so the driver
# (test/compat/run.sh) can print counts. Added helpers, used where upstream relied on `set -e`:
#   check CMD...   an upstream `test ...`/`grep ...` line: an assertion, counted
#   step CMD...    an upstream command that must succeed (set -e), counted as a step
#   fails CMD...   upstream's `$(! CMD)`: CMD must fail
#   pending "WHY" ... end_pending   assertions known to fail until WHY lands: recorded, not fatal
#   docker_save IMG FILE / docker_tag SRC DST: the docker-daemon steps, done with skopeo/podman

: "${COMPAT_RESULTS:?run through test/compat/run.sh}"
PENDING=""

_where() {
    local i
    for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
        case "${BASH_SOURCE[$i]}" in */lib/system_containers_setup.sh) continue ;; esac
        echo "$(basename "${BASH_SOURCE[$i]}"):${BASH_LINENO[$((i - 1))]}"
        return
    done
    echo "?"
}
_record() { local m=${2//$'\n'/ }; printf '%s\t%s\t%s\n' "$1" "$(_where)" "$m" >> "$COMPAT_RESULTS"; }
_pass() { if [ -n "$PENDING" ]; then _record PENDING-PASS "[$PENDING] $*"; else _record PASS "$*"; fi; }
# _fail MSG: fatal (upstream: exit 1) unless inside a pending block
_fail() {
    if [ -n "$PENDING" ]; then _record PENDING-FAIL "[$PENDING] $*"; echo "PENDING-FAIL [$PENDING] $*" 1>&2; return 0; fi
    _record FAIL "$*"
    assert_not_reached "$@"
}

pending() { PENDING=$1; }
end_pending() { PENDING=""; }

assert_not_reached() {
    echo $@ 1>&2
    exit 1
}

assert_not_matches() {
    if grep -q -e $@; then
	sed -e s',^,| ,' < $2
	_fail "Matched: " $@
    else
	_pass "not matches: $*"
    fi
}

assert_matches() {
    if ! grep -q -e $@; then
	sed -e s',^,| ,' < $2
	_fail "Failed to match: " $@
    else
	_pass "matches: $*"
    fi
}

assert_equal() {
    if ! test $1 = $2; then
	_fail "Failed: not equal " $1 $2
    else
	_pass "equal: $1"
    fi
}

check() {
    if "$@"; then _pass "$*"; else _fail "check failed: $*"; fi
}

step() {
    local rc=0
    "$@" || rc=$?
    if [ $rc = 0 ]; then
        if [ -n "$PENDING" ]; then _record PENDING-STEP-OK "[$PENDING] $*"; else _record STEP "$*"; fi
        return 0
    fi
    if [ -n "$PENDING" ]; then _record PENDING-FAIL "[$PENDING] step exited $rc: $*"; echo "PENDING-FAIL [$PENDING] step exited $rc: $*" 1>&2; return 0; fi
    _record FAIL "step exited $rc: $*"
    assert_not_reached "step exited $rc: $*"
}

fails() {
    if "$@"; then _fail "expected to fail: $*"; return 1; fi
    _pass "fails: $*"
}

# The docker daemon of upstream's tests: the images live in containers-storage (built by
# test/compat/images/build-images.sh). `docker save NAME` is `podman save` with the RepoTags
# docker writes for a local image ("NAME:latest"; podman writes "localhost/NAME:latest").
docker_save() {
    podman save -q --format docker-archive -o "$2.podman" "localhost/$1:latest"
    $PYTHON - "$2.podman" "$2" "localhost/" <<'PY'
import json, sys, tarfile
src, dst, drop = sys.argv[1:4]
with tarfile.open(src) as tin, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tout:
    for m in tin.getmembers():
        data = tin.extractfile(m).read() if m.isfile() else None
        if m.name in ("manifest.json", "repositories") and data is not None:
            doc = json.loads(data)
            if m.name == "manifest.json":
                for e in doc:
                    e["RepoTags"] = [t[len(drop):] if t.startswith(drop) else t for t in e.get("RepoTags") or []]
            else:
                doc = {(k[len(drop):] if k.startswith(drop) else k): v for k, v in doc.items()}
            data = json.dumps(doc).encode()
            m.size = len(data)
        import io
        tout.addfile(m, io.BytesIO(data) if data is not None else None)
PY
    rm -f "$2.podman"
}
docker_tag() { podman tag "$1" "$2"; }

# Skip the test if:
# 1. OSTree or runc are not installed
# 2. the version of runc is too low
# 3. atomic has not --install --system
# 4. skopeo copy to ostree fails
# (Port: a missing tool is a failure of the suite, never a skip: exit 1, not 77.)

ostree --version &>/dev/null || assert_not_reached "ostree is not installed"
runc --version &>/dev/null || assert_not_reached "runc is not installed"

if runc --version | grep -q "version 0"; then
    assert_not_reached "runc is too old"
fi


${ATOMIC}  install --help 2>&1 > help.out
grep -q -- --system help.out || assert_not_reached "atomic install has no --system"

export PYTHON=${PYTHON:-/usr/bin/python3}
export ATOMIC_OSTREE_REPO=${WORK_DIR}/repo
export ATOMIC_OSTREE_CHECKOUT_PATH=${WORK_DIR}/checkout
export NAME="test-system-container-$$"

ostree --repo=$ATOMIC_OSTREE_REPO init

# This is to prevent the case where the ostree checkout path
# can be non-existent when no container installation happens prior
mkdir -p $ATOMIC_OSTREE_CHECKOUT_PATH
