#!/bin/bash -x
# Port of projectatomic/atomic tests/integration/test_system_containers_images.sh.
# Every assertion kept; `docker save` -> docker_save (skopeo from containers-storage), Docker Hub
# -> the local registry (registries.conf maps docker.io), upstream's implicit set -e assertions
# made explicit with step/check/fails (lib/system_containers_setup.sh).
set -euo pipefail
IFS=$'\n\t'

. "$(dirname "$0")/lib/system_containers_setup.sh"

# The image tests of system containers, covers:
# 1. pulling image from repository
# 2. listing local images (filters)
# 3. deleting/pruning images
# 4. pulling image from local docker
# 5. pulling image from local dockertar
# 6. tagging local images
# 7. info of local images (environment vars)
# 8. version and verify

setup () {
    docker_save atomic-test-system ${WORK_DIR}/atomic-test-system.tar
}

teardown () {
    set +o pipefail
    ${ATOMIC} -y containers delete busybox  &> /dev/null || true
    # Delete all images from ostree
    ostree --repo=${ATOMIC_OSTREE_REPO} refs --delete ociimage &> /dev/null || true
}

trap teardown EXIT

OUTPUT=$(/bin/true)

setup


# 1. pulling image from repository
step ${ATOMIC} pull --storage ostree busybox
step ostree --repo=${ATOMIC_OSTREE_REPO} refs > ${WORK_DIR}/ostree_refs.out
assert_matches "ociimage/busybox_3Alatest" ${WORK_DIR}/ostree_refs.out

# Check that pulling an image twice does not re-pull the image
step ${ATOMIC} pull --storage ostree busybox > ${WORK_DIR}/pull.out
assert_not_matches "Pulling layer" ${WORK_DIR}/pull.out

# Check that pulling the image with another name doesn't pull the layer,
# but creates a ref
step ${ATOMIC} pull --storage ostree docker.io/busybox > ${WORK_DIR}/pull.out
assert_not_matches "Pulling layer" ${WORK_DIR}/pull.out
step ostree --repo=${ATOMIC_OSTREE_REPO} refs > ${WORK_DIR}/ostree_refs.out
assert_matches "ociimage/docker.io_2Fbusybox_3Alatest" ${WORK_DIR}/ostree_refs.out


# 2. listing local images
step ${ATOMIC} images list > ${WORK_DIR}/images.out
assert_matches "busybox" ${WORK_DIR}/images.out
assert_not_matches ">  busybox" ${WORK_DIR}/images.out
step ${ATOMIC} images list -q > ${WORK_DIR}/images.out
assert_not_matches "busybox" ${WORK_DIR}/images.out

# Testing after installtion the '>' will show up
step ${ATOMIC} install --system busybox
step ${ATOMIC} images list > ${WORK_DIR}/images.out
assert_matches ">  busybox" ${WORK_DIR}/images.out
step ${ATOMIC} -y containers delete busybox

# Testing filters
step ${ATOMIC} images list -f repo=busybox > ${WORK_DIR}/images.out
assert_matches "busybox" ${WORK_DIR}/images.out
step ${ATOMIC} images list -f type=ostree -f repo=busybox > ${WORK_DIR}/images.out
assert_matches "busybox" ${WORK_DIR}/images.out
step ${ATOMIC} images list -f repo=non-existing-repo > ${WORK_DIR}/images.out
assert_not_matches "busybox" ${WORK_DIR}/images.out

step ${ATOMIC} images list -f type=ostree > ${WORK_DIR}/images.out
step ${ATOMIC} images list -f type=ostree --all > ${WORK_DIR}/images.all.out
check test $(wc -l < ${WORK_DIR}/images.out) -lt $(wc -l < ${WORK_DIR}/images.all.out)
assert_matches '<none>' ${WORK_DIR}/images.all.out
assert_not_matches '<none>' ${WORK_DIR}/images.out


# 3. deleting/pruning local images
step ${ATOMIC} --assumeyes images delete -f --storage ostree busybox
step ostree --repo=${ATOMIC_OSTREE_REPO} refs > ${WORK_DIR}/ostree_refs.out
assert_not_matches "ociimage/busybox_3Alatest" ${WORK_DIR}/ostree_refs.out

# Since the image exists as multiple tags,
# Test there are still intermediate layers left after prune
step ${ATOMIC} images prune
step ${ATOMIC} images list -f type=ostree --all > ${WORK_DIR}/images.all.out
assert_matches "<none>" ${WORK_DIR}/images.all.out

# Test that the image can be deleted by ID
BUSYBOX_IMAGE_ID=$(${ATOMIC} images list -f type=ostree | grep busybox | awk '{print $3}')
step ${ATOMIC} --assumeyes images delete -f --storage=ostree ${BUSYBOX_IMAGE_ID}
step ${ATOMIC} images list -f type=ostree > ${WORK_DIR}/images.out
assert_not_matches "busybox" ${WORK_DIR}/images.out

# Test that pruning now removes all images
step ${ATOMIC} images prune
step ${ATOMIC} images list -f type=ostree --all > ${WORK_DIR}/images.all.out
assert_not_matches "<none>" ${WORK_DIR}/images.all.out


# 4. pull image from local docker
step ${ATOMIC} pull --storage ostree docker:atomic-test-system:latest
step ${ATOMIC} images list -f type=ostree > ${WORK_DIR}/images.out
assert_matches "atomic-test-system" ${WORK_DIR}/images.out


# 4.1 Check that the virtual size of the imported image is the same as showed for Docker
step ${ATOMIC_NO_DEBUG} images list --json > ${WORK_DIR}/images.json

cat > test_images_size.py <<EOF
#!/usr/bin/env python
import json
import sys
def make_number(x):
    foo = x.replace("MB", "").replace("KB", "").replace(" ","")
    return float(foo)

def is_different(x, y):
    x = make_number(x)
    y = make_number(y)
    return abs(x - y) > x * 0.04

_sizes = [str(i["virtual_size"]) for i in json.load(sys.stdin) if i['repo']=='atomic-test-system']
sizes = [size for size in _sizes if size != '']
sys.exit(len([size for size in sizes if is_different(size, sizes[0])]))
EOF

step ${PYTHON} test_images_size.py < ${WORK_DIR}/images.json


step ${ATOMIC} --assumeyes images delete -f --storage ostree atomic-test-system
step ${ATOMIC} images prune
step ${ATOMIC} images list -f type=ostree > ${WORK_DIR}/images.out
assert_not_matches "atomic-test-system" ${WORK_DIR}/images.out


# 5. pulling image from local dockertar
step ${ATOMIC} pull --storage ostree dockertar:/${WORK_DIR}/atomic-test-system.tar
step ${ATOMIC} images list -f type=ostree > ${WORK_DIR}/images.out
assert_matches "atomic-test-system" ${WORK_DIR}/images.out


# 6. tagging local images
step ${ATOMIC} images tag --storage ostree atomic-test-system:latest atomic-test-ostree:latest
step ${ATOMIC} images list -f type=ostree > ${WORK_DIR}/images.out
assert_matches "atomic-test-ostree" ${WORK_DIR}/images.out

# Make sure the tagged image has the same id
OLD_ID=$(${ATOMIC} images list -f type=ostree | grep atomic-test-system | awk '{print $3}')
NEW_ID=$(${ATOMIC} images list -f type=ostree | grep atomic-test-ostree | awk '{print $3}')
assert_equal ${OLD_ID} ${NEW_ID}


# 7. image info (labels and environment variables)
step ${ATOMIC} pull --storage ostree docker:atomic-test-system-update:latest
step ${ATOMIC} images info --storage ostree atomic-test-system-update > ${WORK_DIR}/info.out
assert_matches "atomic.type: system" ${WORK_DIR}/info.out
assert_matches "Template variables with default value, but overridable with --set:" ${WORK_DIR}/info.out
assert_matches "PORT: 8081" ${WORK_DIR}/info.out
assert_matches "Template variables that has no default value, and must be set with --set:" ${WORK_DIR}/info.out
assert_matches "VAR_WITH_NO_DEFAULT: {DEF_VALUE}" ${WORK_DIR}/info.out


# 8. version and verify
step ${ATOMIC} pull --storage ostree busybox

step ${ATOMIC} images version --storage ostree busybox > ${WORK_DIR}/version.out
assert_matches "busybox" ${WORK_DIR}/version.out

step ${ATOMIC} images verify --storage ostree busybox > ${WORK_DIR}/verify.out
# TODO: this is currently failing due to a discrepancy between ostree and docker ID's, fix first
# assert_not_matches "YES" ${WORK_DIR}/verify.out
