#!/usr/bin/env node
// Installs the system tools the tests (and, with --bench, the benchmarks) need, with apt-get,
// only when they are missing and only when running as root. Idempotent and quiet when all is there.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const TOOLS = {
  // command or file -> Debian package
  ostree: 'ostree',
  umoci: 'umoci',
  skopeo: 'skopeo',
  '/bin/busybox': 'busybox-static',
  jq: 'jq',
  curl: 'curl',
  'docker-registry': 'docker-registry',
  htpasswd: 'apache2-utils',
  openssl: 'openssl',
  runc: 'runc',
  buildah: 'buildah', // multi-arch index fixture (make-images.sh), interop corpus, test/compat images
  // interop corpus (test/fixtures/interop/make-corpus.sh): real producers and oracles
  podman: 'podman', // also the docker: transport (podman save) in test/compat
  bsdtar: 'libarchive-tools',
  setfattr: 'attr',
  setfacl: 'acl',
  mmdebstrap: 'mmdebstrap',
  python3: 'python3',
  gpg: 'gpg', // trust tests: GPG keys for skopeo --sign-by
  gpgv: 'gpgv', // signedBy verification (also needed at run time)
  'gpg-agent': 'gpg-agent', // gpg --quick-gen-key / skopeo --sign-by
  '/usr/lib/cni/portmap': 'containernetworking-plugins', // network=bridge of option records (bridge, host-local, portmap)
  iptables: 'iptables', // used by CNI's portmap and bridge ipMasq
  ip: 'iproute2', // ip netns for network=bridge
  catatonit: 'catatonit', // `--init` (a minimal PID 1 bind-mounted into the container); system tests
  cc: 'gcc', // system test of healthCheck notify: a static sd_notify client for the test image
  '/usr/include/stdio.h': 'libc6-dev', // static libc for it (cc -static)
  ansible: 'ansible', // test/compat: community.general's atomic_container / atomic_image modules
};
// the bench also times podman (above) in a private mount namespace, under GNU time
const BENCH_TOOLS = { unshare: 'util-linux', '/usr/bin/time': 'time' };

function have(tool) {
  if (tool.startsWith('/')) return existsSync(tool);
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

const wanted = { ...TOOLS, ...(process.argv.includes('--bench') ? BENCH_TOOLS : {}) };
const missing = [...new Set(Object.entries(wanted).filter(([t]) => !have(t)).map(([, p]) => p))];
if (missing.length === 0) process.exit(0);
if (process.getuid?.() !== 0) {
  console.error(`ensure-tools: missing ${missing.join(', ')}; run as root (or install them: apt-get install -y ${missing.join(' ')})`);
  process.exit(1);
}
console.error(`ensure-tools: installing ${missing.join(' ')}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const install = () => execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env });
const update = () => execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env });
// a fresh machine has no package lists: apt-get install would fail with a misleading
// "held broken packages"; update first then, and once more if the lists turn out stale
const lists = (() => {
  try {
    return readdirSync('/var/lib/apt/lists').some((n) => n.endsWith('_Packages') || n.endsWith('_Packages.lz4'));
  } catch {
    return false;
  }
})();
if (!lists) update();
try {
  install();
} catch {
  update();
  install();
}
