/**
 * Large files are compared with the object a stored version of the image holds at their path
 * before anything is written (store/large-dedup.ts, image/dedup-candidates.ts). Images made by
 * umoci (one base layer, then a layer with a 20 MiB random /usr/bin/big and a small
 * /etc/version), pulled through the real CLI from oci: layouts and from the CNCF registry. What
 * was written is read from the kernel: the pull's block output count (getrusage through wait4,
 * `ru_oublock`) and its `openat` calls (strace), not from our counters; the store is judged by
 * `ostree fsck`, the checkout by `umoci unpack`. Hostile stores: the candidate object truncated,
 * modified, holding another file's bytes, or a symlink; a stream that diverges from it in its
 * first or last chunk; a candidate that changes between the compare and the copy (in-process:
 * the test is the writer).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { atomic, atomicSysroot, cliEnvFor, type CliEnv } from '../../helpers/cli.js';
import { compareRootfs, rootfsManifest } from '../../helpers/rootfs-compare.js';
import { startRegistry } from '../../helpers/registry-server.js';
import { OstreeRepo } from '../../../src/store/repo.js';
import { readImage } from '../../../src/image/stored-image.js';
import { lookupPath } from '../../../src/store/commit-path.js';
import { checkoutLayers } from '../../../src/store/checkout.js';
import { isAtomicError } from '../../../src/util/errors.js';
import type { Checksum } from '../../../src/store/types.js';

const BIG = 20 * 1024 * 1024;
const BIG_PATH = '/usr/bin/big';

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024, ...opts });
}

interface Traced {
  status: number;
  written: number;
  created: string[];
  opened: string[];
  out: string;
}

/** The CLI with `args` under strace (openat) and wait4: its exit status, block output in bytes, the files it created and opened. */
function traced(args: string[], envExtra: Record<string, string>): Traced {
  const dir = makeTempDir('atomic-large-trace-');
  const trace = path.join(dir, 'strace.txt');
  // wait4's rusage of strace includes the descendants it waited for: the CLI and its children
  const py = [
    'import os, subprocess, sys',
    'p = subprocess.Popen(sys.argv[1:])',
    '_, st, ru = os.wait4(p.pid, 0)',
    'print("RESULT", os.waitstatus_to_exitcode(st), ru.ru_oublock * 512, file=sys.stderr)',
  ].join('\n');
  const env: NodeJS.ProcessEnv = { ...process.env, ...envExtra };
  if (envExtra.ATOMIC_SYSROOT !== undefined) for (const k of ['ATOMIC_OSTREE_REPO', 'ATOMIC_OSTREE_CHECKOUT_PATH', 'ATOMIC_CONF']) delete env[k];
  const r = spawnSync('python3', ['-c', py, 'strace', '-f', '-qq', '-e', 'trace=openat', '-o', trace, process.execPath, BIN, ...args], { encoding: 'utf8', env, timeout: 300_000 });
  const m = /RESULT (-?\d+) (\d+)/.exec(r.stderr);
  assert.ok(m, `no result from the wait4 wrapper: ${r.stderr}`);
  const lines = fs.readFileSync(trace, 'utf8').split('\n');
  fs.rmSync(dir, { recursive: true });
  const pathOf = (l: string): string => /openat\([^,]+, "([^"]*)"/.exec(l)?.[1] ?? '';
  return {
    status: Number(m[1]),
    written: Number(m[2]),
    created: lines.filter((l) => l.includes('O_CREAT') && !/= -1 /.test(l)).map(pathOf),
    opened: lines.filter((l) => l.includes('openat(')).map(pathOf),
    out: r.stdout + r.stderr,
  };
}

/** `atomic pull --name NAME SRC` into `env`'s store, traced. */
function tracedPull(env: CliEnv, src: string, name: string, extra: Record<string, string> = {}): Traced {
  return traced(['pull', '--storage', 'ostree', '--name', name, src], {
    ATOMIC_OSTREE_REPO: env.repo,
    ATOMIC_OSTREE_CHECKOUT_PATH: env.checkout,
    ATOMIC_CONF: '/nonexistent/atomic.conf',
    ...extra,
  });
}

function fsck(repo: string): void {
  const r = spawnSync('ostree', ['fsck', '--quiet', `--repo=${repo}`], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' } });
  assert.equal(r.status, 0, `ostree fsck: ${r.stdout}${r.stderr}`);
}

describe('large files: compared with the stored version before they are written', function () {
  this.timeout(600_000);
  let tmp: string;
  let oci: string;
  /** A store with localhost/app:v1 pulled; each test works on a copy. */
  let baseStore: string;
  let bigV1: Buffer;

  /** umoci: base + /usr/bin/big (`big`) + /etc/version (`version`), tagged `tag`. */
  function makeImage(tag: string, big: Buffer, version: string): void {
    const b = path.join(tmp, `b-${tag}`);
    run('umoci', ['unpack', '--image', `${oci}:base`, b]);
    fs.mkdirSync(`${b}/rootfs/usr/bin`, { recursive: true });
    fs.writeFileSync(`${b}/rootfs/usr/bin/big`, big, { mode: 0o755 });
    fs.writeFileSync(`${b}/rootfs/etc/version`, `${version}\n`);
    run('umoci', ['repack', '--image', `${oci}:${tag}`, b]);
    fs.rmSync(b, { recursive: true, force: true });
  }

  function flipped(at: number): Buffer {
    const b = Buffer.from(bigV1);
    b[at] = b[at]! ^ 0xff;
    return b;
  }

  before(function () {
    tmp = makeTempDir('atomic-large-dedup-');
    oci = path.join(tmp, 'oci');
    run('cp', ['-a', path.join(fixtureImages(), 'oci'), oci]);
    bigV1 = randomBytes(BIG);
    makeImage('v1', bigV1, 'v1');
    makeImage('v2', bigV1, 'v2'); // the large file unchanged, the small one changed, in a new layer
    makeImage('v2-first', flipped(10), 'v2');
    makeImage('v2-last', flipped(BIG - 1), 'v2');
    makeImage('v2-middle', flipped(BIG / 2 + 12345), 'v2');
    const env = cliEnvFor(path.join(tmp, 'base'));
    const r = atomic(env, ['pull', '--storage', 'ostree', '--name', 'localhost/app:v1', `oci:${oci}:v1`]);
    assert.equal(r.status, 0, r.stderr);
    baseStore = path.join(tmp, 'base');
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** A fresh copy of the store holding v1. */
  function storeCopy(name: string): CliEnv {
    const dir = path.join(tmp, name);
    run('cp', ['-a', baseStore, dir]);
    return cliEnvFor(dir);
  }

  /** v1's object for /usr/bin/big: its checksum and path. */
  async function v1Object(env: CliEnv): Promise<{ c: Checksum; p: string }> {
    const repo = await OstreeRepo.open(env.repo);
    const img = await readImage(repo, 'localhost/app:v1');
    const node = await lookupPath(repo, img.layers[img.layers.length - 1]!.commit!, BIG_PATH);
    assert.ok(node && node.kind === 'file', 'v1 has /usr/bin/big in its top layer');
    return { c: node.checksum, p: repo.objectPath(node.checksum, 'file') };
  }

  /** The checkout of `name` from the store equals `umoci unpack` of `tag`. */
  async function assertCheckoutEqualsUmoci(env: CliEnv, name: string, tag: string): Promise<void> {
    const repo = await OstreeRepo.open(env.repo);
    const img = await readImage(repo, name);
    const dest = path.join(path.dirname(env.checkout), `co-${tag}`);
    await checkoutLayers(
      repo,
      img.layers.map((l) => l.commit!),
      dest,
    );
    const bundle = path.join(tmp, `unpack-${tag}`);
    if (!fs.existsSync(bundle)) run('umoci', ['unpack', '--image', `${oci}:${tag}`, bundle]);
    assert.deepEqual(compareRootfs(rootfsManifest(path.join(bundle, 'rootfs')), rootfsManifest(dest)), [], `checkout of ${name} = umoci unpack of ${tag}`);
    fs.rmSync(dest, { recursive: true, force: true });
  }

  const stagedTemp = (created: string[]): string[] => created.filter((p) => /\/tmp\/staging-[^/]+\/tmp-\d+$/.test(p));

  it('an update pull whose large file is unchanged does not write it (kernel counts), fsck passes, the checkout equals umoci unpack', async () => {
    // the control: without the compare, the same pull writes the file to a temporary file
    const control = storeCopy('control');
    const before = tracedPull(control, `oci:${oci}:v2`, 'localhost/app:v2', { ATOMIC_LARGE_DEDUP: '0' });
    assert.equal(before.status, 0, before.out);
    assert.ok(before.written >= BIG, `without the compare the pull writes the large file (${before.written} bytes written)`);
    assert.equal(stagedTemp(before.created).length, 1, 'without the compare it streams into a tmp- file');

    const env = storeCopy('unchanged');
    const { p } = await v1Object(env);
    const r = tracedPull(env, `oci:${oci}:v2`, 'localhost/app:v2');
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /Image localhost\/app:v2 pulled \(1 layer\(s\) imported, 1 already present\)/);
    assert.ok(r.written < BIG / 4, `the unchanged large file is not written again (${r.written} bytes written)`);
    assert.deepEqual(stagedTemp(r.created), [], 'no temporary file was created');
    assert.ok(r.opened.includes(p), 'the candidate object (v1) was read');
    fsck(env.repo);
    await assertCheckoutEqualsUmoci(env, 'localhost/app:v2', 'v2');
  });

  it('the same from a registry: docker://HOST/app:v2 after docker://HOST/app:v1, names as pulled', async () => {
    const reg = await startRegistry({ push: false });
    try {
      for (const tag of ['v1', 'v2'])
        execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${oci}:${tag}`, `docker://${reg.host}/app:${tag}`], { stdio: 'ignore' });
      const env = cliEnvFor(path.join(tmp, 'registry'));
      const first = atomic(env, ['pull', '--storage', 'ostree', `docker://${reg.host}/app:v1`]);
      assert.equal(first.status, 0, first.stderr);
      const r = traced(['pull', '--storage', 'ostree', `docker://${reg.host}/app:v2`], {
        ATOMIC_OSTREE_REPO: env.repo,
        ATOMIC_OSTREE_CHECKOUT_PATH: env.checkout,
        ATOMIC_CONF: '/nonexistent/atomic.conf',
      });
      assert.equal(r.status, 0, r.out);
      assert.ok(r.written < BIG / 4, `the unchanged large file is not written again (${r.written} bytes written)`);
      assert.deepEqual(stagedTemp(r.created), [], 'no temporary file was created');
      fsck(env.repo);
      await assertCheckoutEqualsUmoci(env, `${reg.host}/app:v2`, 'v2');
    } finally {
      reg.stop();
    }
  });

  it('the same on a layer worker thread (ATOMIC_LAYER_WORKERS=1)', async () => {
    const env = storeCopy('unchanged-worker');
    const r = tracedPull(env, `oci:${oci}:v2`, 'localhost/app:v2', { ATOMIC_LAYER_WORKERS: '1' });
    assert.equal(r.status, 0, r.out);
    assert.ok(r.written < BIG / 4, `the unchanged large file is not written again (${r.written} bytes written)`);
    assert.deepEqual(stagedTemp(r.created), [], 'no temporary file was created');
    fsck(env.repo);
    await assertCheckoutEqualsUmoci(env, 'localhost/app:v2', 'v2');
  });

  it('containers update --rebase to an image of another repository compares with the image the container runs', () => {
    // big-a and big-b: systest (it has /exports) plus the same large file and a different small
    // one; pulled from oci: they are stored as big-a:latest and big-b:latest, two repository
    // names: only the running image (PullOptions.likeImages) can name the candidate
    const fx = path.join(tmp, 'sys-oci');
    run('cp', ['-a', path.join(fixtureImages(), 'oci'), fx]);
    for (const tag of ['big-a', 'big-b']) {
      const b = path.join(tmp, `b-${tag}`);
      run('umoci', ['unpack', '--image', `${fx}:systest`, b]);
      fs.writeFileSync(`${b}/rootfs/usr/bin/big`, bigV1, { mode: 0o755 });
      fs.writeFileSync(`${b}/rootfs/etc/which`, `${tag}\n`);
      run('umoci', ['repack', '--image', `${fx}:${tag}`, b]);
      fs.rmSync(b, { recursive: true, force: true });
    }
    const S = path.join(tmp, 'sysroot');
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
    const ins = atomicSysroot(S, ['install', '--system', '--name', 'big', `oci:${fx}:big-a`]);
    assert.equal(ins.status, 0, ins.stderr + ins.stdout);
    const r = traced(['containers', 'update', '--rebase', `oci:${fx}:big-b`, 'big'], { ATOMIC_SYSROOT: S });
    assert.equal(r.status, 0, r.out);
    assert.deepEqual(stagedTemp(r.created), [], 'no temporary file was created for the large file');
    assert.ok(r.written < BIG / 4, `the unchanged large file is not written again (${r.written} bytes written)`);
    const rootfs = path.join(S, fs.readlinkSync(path.join(S, 'var/lib/containers/atomic/big')), 'rootfs'); // the link is absolute inside the sysroot
    assert.equal(fs.readFileSync(path.join(rootfs, 'etc/which'), 'utf8'), 'big-b\n');
    assert.ok(fs.readFileSync(path.join(rootfs, 'usr/bin/big')).equals(bigV1), 'the deployed large file is intact');
    fsck(path.join(S, 'var/lib/containers/atomic/.storage/ostree'));
  });

  it('a stream that diverges in its first or last chunk is stored whole and correct', async () => {
    for (const tag of ['v2-first', 'v2-last']) {
      const env = storeCopy(`diverge-${tag}`);
      const r = tracedPull(env, `oci:${oci}:${tag}`, `localhost/app:${tag}`);
      assert.equal(r.status, 0, r.out);
      assert.ok(r.written >= BIG, `${tag}: the file is written (${r.written} bytes)`);
      fsck(env.repo);
      await assertCheckoutEqualsUmoci(env, `localhost/app:${tag}`, tag);
    }
  });

  /** Tamper with v1's object, pull `tag` (whose large file differs from v1's), put v1's object back: fsck and the checkout must pass. */
  async function hostile(label: string, tag: string, tamper: (p: string, env: CliEnv) => void, check?: (r: ReturnType<typeof tracedPull>, p: string) => void): Promise<void> {
    const env = storeCopy(`hostile-${label}`);
    const { p } = await v1Object(env);
    const saved = `${env.checkout}/../saved-object`;
    run('cp', ['-a', p, saved]);
    tamper(p, env);
    const r = tracedPull(env, `oci:${oci}:${tag}`, `localhost/app:${tag}`);
    assert.equal(r.status, 0, `${label}: ${r.out}`);
    check?.(r, p);
    fs.rmSync(p, { force: true });
    run('cp', ['-a', saved, p]);
    fsck(env.repo);
    await assertCheckoutEqualsUmoci(env, `localhost/app:${tag}`, tag);
  }

  it('a truncated candidate object is not used; the pull stores correct bytes', async () => {
    await hostile(
      'truncated',
      'v2-last',
      (p) => fs.truncateSync(p, BIG / 2),
      (r, p) => assert.ok(!r.opened.includes(p), 'a candidate of the wrong size is not opened'),
    );
  });

  it('a candidate object modified in its middle: the prefix copied from it is re-hashed, the pull stores correct bytes', async () => {
    await hostile(
      'modified',
      'v2-last',
      (p) => {
        const fd = fs.openSync(p, 'r+');
        fs.writeSync(fd, Buffer.from([0x55, 0xaa]), 0, 2, BIG / 2 + 3);
        fs.closeSync(fd);
      },
      (r, p) => assert.ok(r.opened.includes(p), 'the candidate was compared'),
    );
  });

  it("a candidate object holding the pulled file's bytes under another name: stored under the stream's checksum, verified", async () => {
    await hostile(
      'misnamed',
      'v2-last',
      (p) => {
        fs.chmodSync(p, 0o644);
        fs.writeFileSync(p, flipped(BIG - 1));
      },
      (r, p) => assert.ok(r.opened.includes(p), 'the candidate was compared'),
    );
  });

  it('a symlink where the candidate object should be is not followed', async () => {
    const outside = path.join(tmp, 'outside-big');
    fs.writeFileSync(outside, flipped(BIG - 1));
    await hostile(
      'symlink',
      'v2-last',
      (p) => {
        fs.rmSync(p);
        fs.symlinkSync(outside, p);
      },
      (r) => assert.ok(!r.opened.includes(outside), 'the symlink target was not opened'),
    );
  });

  it('a candidate that changes between the compare and the copy fails the import with STORE_CORRUPT and stores nothing', async () => {
    const env = storeCopy('swapped');
    const { c, p } = await v1Object(env);
    const repo = await OstreeRepo.open(env.repo);
    const tx = await repo.beginTransaction();
    const stream = flipped(BIG / 2); // diverges from v1's bytes halfway
    async function* body(): AsyncGenerator<Buffer> {
      for (let at = 0; at < BIG; at += 1024 * 1024) {
        if (at === BIG / 2) {
          // after the first half matched, before the diverging chunk: another writer changes the candidate
          const fd = fs.openSync(p, 'r+');
          fs.writeSync(fd, Buffer.from([bigV1[7]! ^ 1]), 0, 1, 7);
          fs.closeSync(fd);
        }
        yield stream.subarray(at, at + 1024 * 1024);
      }
    }
    const meta = { uid: 0, gid: 0, mode: 0o100755, symlinkTarget: '', xattrs: [] };
    let err: unknown;
    try {
      await tx.writeRegularFile(meta, body(), BIG, async () => c);
    } catch (e) {
      err = e;
    } finally {
      await tx.abort();
    }
    assert.ok(isAtomicError(err) && err.code === 'STORE_CORRUPT', `STORE_CORRUPT, got ${String(err)}`);
    assert.deepEqual(
      fs.readdirSync(path.join(env.repo, 'tmp')).filter((n) => n.startsWith('staging-')),
      [],
      'no staging left',
    );
    const want = createHash('sha256').update(stream).digest('hex');
    assert.ok(
      !run('find', [path.join(env.repo, 'objects'), '-type', 'f', '-size', `${BIG / 1024}k`])
        .split('\n')
        .some((f) => f && createHash('sha256').update(fs.readFileSync(f)).digest('hex') === want),
      'the stream was not stored',
    );
  });
});
