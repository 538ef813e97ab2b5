/**
 * npm run bench [-- --json[=FILE]] [-- --only=startup,import,pull,large,install,downtime]
 *
 * Every figure of issue #17 next to its anchor, measured in the same run, as one table:
 * - start-up of `atomic --version`, `images list`, `containers list -a` (empty store) vs `node -e 0`;
 * - layer import / checkout of a Debian minbase rootfs tar vs `ostree commit --tree=tar=` /
 *   `ostree checkout -H`, with `tar -x` and `sha256sum` of the same tar as floors, and the floors
 *   of the work itself: a minimal Node importer (bench/import-floor.ts) and the mkdir/link calls
 *   of ostree's checkout replayed from a list in C and in Node (bench/checkout-floor.c, .ts); peak RSS;
 * - registry pull (cold, 5% update, no-op, and a cold pull of the same tree as 4 layers built by
 *   umoci) from a local CNCF registry vs `podman pull` (overlay, private --root, private mount
 *   namespace) and `skopeo copy`, peak RSS, bytes written;
 * - bytes written by an update pull whose 64 MiB file is unchanged (bench/large-file.ts);
 * - install / update / rollback of a cached small image vs `podman create` + `podman generate
 *   systemd --new --files`;
 * - service downtime during `containers update` under the real systemd vs `systemctl restart`.
 * Medians of $ATOMIC_BENCH_RUNS (default 5, the issue's minimum; pulls and downtime too) after one warm-up. Every child
 * is timed the same way (GNU time: wall and peak RSS). The machine is shared: compare ratios.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_DIR, TAR, UPDATE_TAR, ensureTar, ensureUpdateTar, ensureLayout, ensureMultiLayerLayout } from './images.js';
import { benchLargeFile } from './large-file.js';
import { writeCheckoutList } from './checkout-list.js';
import { timed, wall, median, duBytes, syncAll, printTable, fmtS, loadAverage, rmrf, parseTime, type Row, type Timed } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');
// `atomic` as npm links it: bin/run.js executed, its first line in sh (which defers node's parse of
// NODE_EXTRA_CA_CERTS, see the file), then node. What a user runs.
const BIN = path.join(ROOT, 'bin', 'run.js');
const SHARED = process.env.ATOMIC_SHARED_DIR ?? path.resolve(ROOT, '..', 'shared');
const RUNS = Number(process.env.ATOMIC_BENCH_RUNS ?? 5);
const SLOW_RUNS = Number(process.env.ATOMIC_BENCH_SLOW_RUNS ?? RUNS);
const OSTREE_ENV = { ...process.env, LC_ALL: 'C.UTF-8' };
const argv = process.argv.slice(2);
const jsonArg = argv.find((a) => a === '--json' || a.startsWith('--json='));
const only = argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const want = (s: string) => !only || only.includes(s);

const rows: Row[] = [];
const json: Record<string, number | null> = {};
const mib = (n: number) => `${n.toFixed(0)} MiB`;
function row(section: string, what: string, ours: string, anchor: string, anchorValue: string, ratio: number | null, target: string, limit: number | null): void {
  rows.push({ section, what, ours, anchor, anchorValue, ratio, target, met: limit === null || ratio === null ? null : ratio <= limit });
}

/** CLI env for a private store below DIR (no sysroot). */
function storeEnv(dir: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, ATOMIC_OSTREE_REPO: path.join(dir, 'ck', '.storage', 'ostree'), ATOMIC_OSTREE_CHECKOUT_PATH: path.join(dir, 'ck'), ATOMIC_CONF: '/nonexistent/atomic.conf', NODE_NO_WARNINGS: '1' };
  delete e.ATOMIC_SYSROOT;
  return e;
}

function fixtures(): string {
  const script = path.join(SHARED, 'fixtures', 'make-images.sh');
  const dir = path.join(BENCH_DIR, 'fixtures');
  if (!fs.existsSync(path.join(dir, 'SUMMARY.txt'))) {
    rmrf(`${dir}.tmp`);
    execFileSync('bash', [script, `${dir}.tmp`], { stdio: ['ignore', 'ignore', 'inherit'] });
    rmrf(dir);
    fs.renameSync(`${dir}.tmp`, dir);
  }
  return dir;
}

/* --------------------------------- podman, private root ----------------------------------- */

const PODMAN_SH = `set -e
mount -t tmpfs tmpfs /var/lib/containers 2>/dev/null || { mkdir -p "$P/varlib"; mount --bind "$P/varlib" /var/lib/containers; }
cd "$P/cwd"
exec /usr/bin/time -f '@@TIME %e %M' podman --root "$P/root" --runroot "$RR" --tmpdir "$P/tmp" --storage-driver overlay --cgroup-manager cgroupfs --events-backend file "$@"`;

/** Short run roots (podman refuses one longer than 50 characters), per storage dir. */
const runRoots = new Map<string, string>();
function runRoot(p: string): string {
  let r = runRoots.get(p);
  if (!r) {
    r = fs.mkdtempSync('/tmp/atb-');
    runRoots.set(p, r);
  }
  return r;
}

/** podman with its own storage below P, in a private mount namespace (its blob cache under /var/lib/containers/cache stays private too). */
function podman(p: string, args: string[]): Timed {
  for (const d of ['root', 'tmp', 'cwd']) fs.mkdirSync(path.join(p, d), { recursive: true });
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', PODMAN_SH, 'podman', ...args], { encoding: 'utf8', env: { ...process.env, P: p, RR: runRoot(p) }, maxBuffer: 64 << 20 });
  return parseTime(r, `podman ${args.join(' ')}`);
}

function podmanReset(p: string): void {
  if (!fs.existsSync(path.join(p, 'root'))) return;
  spawnSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs tmpfs /var/lib/containers; podman --root "${p}/root" --runroot "${runRoot(p)}" --storage-driver overlay system reset -f`], { stdio: 'ignore' });
  rmrf(p);
  rmrf(runRoot(p));
  runRoots.delete(p);
}

/* ----------------------------------------- start-up ----------------------------------------- */

async function benchStartup(work: string): Promise<void> {
  const { loadFreshManifest } = await import('../src/cli/manifest.js');
  if (!loadFreshManifest(ROOT)) console.log('  WARNING: oclif.manifest.json is missing or stale (run npm run build; a copy must keep mtimes): start-up measured on the slow path');
  const empty = path.join(work, 'empty-sysroot');
  fs.mkdirSync(empty, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, ATOMIC_SYSROOT: empty, NODE_NO_WARNINGS: '1' };
  const n = Math.max(RUNS * 2, 5);
  const cmds: Array<[string, string[]]> = [
    ['--version', ['--version']],
    ['images list', ['images', 'list']],
    ['containers list -a', ['containers', 'list', '-a']],
  ];
  const nodeT: number[] = [];
  const bareT: number[] = [];
  // node's start-up without the CA file some machines (this one) name in NODE_EXTRA_CA_CERTS
  const bareEnv = { ...env };
  delete bareEnv.NODE_EXTRA_CA_CERTS;
  const ours = cmds.map(() => [] as number[]);
  for (let i = -1; i < n; i++) {
    const t0 = wall(process.execPath, ['-e', '0'], { env });
    const tb = wall(process.execPath, ['-e', '0'], { env: bareEnv });
    const ts = cmds.map(([, a]) => wall(BIN, [...a], { env }));
    if (i < 0) continue;
    nodeT.push(t0);
    bareT.push(tb);
    ts.forEach((t, k) => ours[k].push(t));
  }
  const nodeM = median(nodeT);
  const bareM = median(bareT);
  let worst = 0;
  cmds.forEach(([name], k) => {
    const m = median(ours[k]);
    worst = Math.max(worst, m);
    rows.push({ section: 'start-up', what: `atomic ${name} (empty store)`, ours: fmtS(m), anchor: 'node -e 0', anchorValue: fmtS(nodeM), ratio: m / nodeM, target: '<= 0.12 s', met: m <= 0.12 });
  });
  if (env.NODE_EXTRA_CA_CERTS) {
    rows.push({ section: 'start-up', what: 'atomic images list: above node without NODE_EXTRA_CA_CERTS', ours: fmtS(median(ours[1])), anchor: 'node -e 0, NODE_EXTRA_CA_CERTS unset', anchorValue: fmtS(bareM), ratio: median(ours[1]) / bareM, target: '', met: null });
  }
  json.startup_s = worst;
  json.startup_node_s = nodeM;
  json.startup_node_bare_s = bareM;
}

/* ----------------------------------------- import ------------------------------------------- */

/** The C checkout floor (bench/checkout-floor.c), compiled once per run. */
function buildCheckoutFloor(work: string): string {
  const exe = path.join(work, 'checkout-floor');
  execFileSync('cc', ['-O2', '-o', exe, path.join(ROOT, 'bench', 'checkout-floor.c')]);
  return exe;
}

function benchImport(work: string): void {
  const size = fs.statSync(TAR).size;
  const floorC = buildCheckoutFloor(work);
  const impFloor: number[] = [];
  const coFloorC: number[] = [];
  const coFloorNode: number[] = [];
  const imp: number[] = [];
  const co: number[] = [];
  const coWarm: number[] = [];
  const oimp: number[] = [];
  const oco: number[] = [];
  const tarx: number[] = [];
  const sha: number[] = [];
  let rss = 0;
  const workers: number[] = [];
  for (let i = -1; i < RUNS; i++) {
    const w = fs.mkdtempSync(path.join(work, 'import-'));
    const runOurs = () => {
      syncAll();
      // the store decides on its I/O workers as it does for a user (src/store/write-pool.ts
      // autoPoolSize) unless $ATOMIC_STORE_WORKERS forces a number; the child reports its choice
      const t = timed(process.execPath, [path.join(here, 'import-child.js'), TAR, w]);
      const r = JSON.parse(t.stdout.trim().split('\n').pop()!) as { importS: number; checkoutS: number; commit: string; storeWorkers: number };
      workers.push(r.storeWorkers);
      // the checkout again, in a fresh process as `atomic install` makes it (bench/checkout-child.ts)
      syncAll();
      const f = timed(process.execPath, [path.join(here, 'checkout-child.js'), path.join(w, 'repo-ours'), r.commit, path.join(w, 'co-ours-fresh')]);
      const fresh = (JSON.parse(f.stdout) as { checkoutS: number }).checkoutS;
      return { ...r, fresh, rss: t.rssMiB };
    };
    const runOstree = () => {
      const repo = path.join(w, 'repo-ostree');
      execFileSync('ostree', ['init', `--repo=${repo}`, '--mode=bare'], { env: OSTREE_ENV });
      syncAll();
      const c = timed('ostree', ['commit', `--repo=${repo}`, '-b', 'bench', `--tree=tar=${TAR}`, '--no-bindings'], { env: OSTREE_ENV });
      syncAll();
      const k = timed('ostree', ['checkout', `--repo=${repo}`, '-H', 'bench', path.join(w, 'co-ostree')], { env: OSTREE_ENV });
      return { importS: c.s, checkoutS: k.s };
    };
    // the import floor: the work itself without our store around it (it times itself, as import-child does)
    const runImportFloor = () => {
      const fw = path.join(w, 'floor-import');
      fs.mkdirSync(fw);
      syncAll();
      return (JSON.parse(timed(process.execPath, [path.join(here, 'import-floor.js'), TAR, fw]).stdout) as { importS: number }).importS;
    };
    // the three importers take turns going first: creating files gets slower as a round goes on
    let a!: ReturnType<typeof runOurs>;
    let b!: ReturnType<typeof runOstree>;
    let fi = NaN;
    const order = [() => (a = runOurs()), () => (b = runOstree()), () => (fi = runImportFloor())];
    for (let k = 0; k < order.length; k++) order[(k + i + 1) % order.length]!();
    fs.mkdirSync(path.join(w, 'tar-x'));
    syncAll();
    const tx = timed('tar', ['-xf', TAR, '-C', path.join(w, 'tar-x'), '--no-same-owner']).s;
    const sh = timed('sha256sum', [TAR]).s;
    const list = path.join(w, 'checkout.list');
    writeCheckoutList(path.join(w, 'repo-ostree'), path.join(w, 'co-ostree'), list);
    const [dc, dn] = [path.join(w, 'floor-co-c'), path.join(w, 'floor-co-node')];
    fs.mkdirSync(dc);
    fs.mkdirSync(dn);
    syncAll();
    const fc = Number(timed(floorC, [list, dc]).stdout.trim());
    const fn = (JSON.parse(timed(process.execPath, [path.join(here, 'checkout-floor.js'), list, dn]).stdout) as { s: number }).s;
    console.log(`  import ${i < 0 ? 'warm-up' : `run ${i + 1}`} (load ${loadAverage()}, ${workers[workers.length - 1]} store workers): atomic ${fmtS(a.importS)} + checkout ${fmtS(a.fresh)} (right after the import: ${fmtS(a.checkoutS)}; ${mib(a.rss)}); ostree ${fmtS(b.importS)} + ${fmtS(b.checkoutS)}; tar -x ${fmtS(tx)}; sha256sum ${fmtS(sh)}; floors: import ${fmtS(fi)}, checkout C ${fmtS(fc)} / Node ${fmtS(fn)}`);
    if (i < 0) continue;
    impFloor.push(fi);
    coFloorC.push(fc);
    coFloorNode.push(fn);
    imp.push(a.importS);
    co.push(a.fresh);
    coWarm.push(a.checkoutS);
    oimp.push(b.importS);
    oco.push(b.checkoutS);
    tarx.push(tx);
    sha.push(sh);
    rss = Math.max(rss, a.rss);
  }
  const [mi, mc, oi, oc, mt, ms] = [imp, co, oimp, oco, tarx, sha].map(median);
  const lbl = `Debian minbase tar ${(size / 1048576).toFixed(0)} MiB`;
  row('import', lbl, fmtS(mi), 'ostree commit --tree=tar=', fmtS(oi), mi / oi, '<= 0.50x', 0.5);
  row('import', 'floor: tar -x of the same tar', fmtS(mi), 'tar -x', fmtS(mt), mi / mt, '', null);
  row('import', 'floor: one sha256 pass', fmtS(mi), 'sha256sum', fmtS(ms), mi / ms, '', null);
  const [mfi, mfc, mfn] = [impFloor, coFloorC, coFloorNode].map(median);
  const of = (x: number, anchor: number) => `${(x / anchor).toFixed(2)}x ostree's`;
  row('import', `floor: minimal Node importer, 1 thread (${of(mfi, oi)})`, fmtS(mi), 'bench/import-floor.ts', fmtS(mfi), mi / mfi, '', null);
  row('import', 'peak RSS (import + checkout process)', mib(rss), '', '', null, '<= 120 MiB', null);
  rows[rows.length - 1].met = rss <= 120;
  const mcw = median(coWarm);
  row('checkout', 'hardlink checkout of that commit, fresh process', fmtS(mc), 'ostree checkout -H', fmtS(oc), mc / oc, '<= 0.50x', 0.5);
  row('checkout', 'the same right after the import, same process', fmtS(mcw), 'ostree checkout -H', fmtS(oc), mcw / oc, '', null);
  row('checkout', `floor: mkdir + link from a list, C, 1 thread (${of(mfc, oc)})`, fmtS(mc), 'bench/checkout-floor.c', fmtS(mfc), mc / mfc, '', null);
  row('checkout', `floor: mkdir + lstat + link, Node, 1 thread (${of(mfn, oc)})`, fmtS(mc), 'bench/checkout-floor.ts', fmtS(mfn), mc / mfn, '', null);
  json.import_floor_node_s = mfi;
  json.import_floor_vs_ostree = mfi / oi;
  json.import_vs_floor = mi / mfi;
  json.checkout_floor_c_s = mfc;
  json.checkout_floor_node_s = mfn;
  json.checkout_floor_c_vs_ostree = mfc / oc;
  json.checkout_floor_node_vs_ostree = mfn / oc;
  json.checkout_vs_floor_c = mc / mfc;
  json.import_ratio = mi / oi;
  json.import_store_workers_max = Math.max(...workers);
  json.checkout_ratio = mc / oc;
  json.checkout_after_import_ratio = mcw / oc;
  json.import_vs_tar_x = mi / mt;
  json.peak_rss_mib = rss;
}

/* ------------------------------------------ pull -------------------------------------------- */

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  for (;;) {
    const p = 20000 + Math.floor(Math.random() * 30000);
    if ((await portFree(p)) && (await portFree(p + 1))) return p;
  }
}

async function benchPull(work: string): Promise<void> {
  const stats = await ensureUpdateTar();
  const base = path.join(BENCH_DIR, 'oci-debian');
  const upd = path.join(BENCH_DIR, 'oci-debian-update');
  await ensureLayout(TAR, base);
  await ensureLayout(UPDATE_TAR, upd);
  const multi = path.join(BENCH_DIR, 'oci-debian-4layers');
  ensureMultiLayerLayout(TAR, multi);
  const regDir = fs.mkdtempSync(path.join(work, 'registry-'));
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
  const regEnv = { ...env, REG_DIR: regDir, REG_PORT: String(port), REG_AUTH: 'none', REG_TLS: '0' };
  const REGISTRY_SH = path.join(SHARED, 'fixtures', 'registry.sh');
  const img = `127.0.0.1:${port}/bench/debian:latest`;
  const imgU = `127.0.0.1:${port}/bench/debian:update`;
  const imgM = `127.0.0.1:${port}/bench/debian:layers`;
  const podmanRoots: string[] = [];
  try {
    execFileSync('bash', [REGISTRY_SH, 'start'], { env: regEnv, stdio: ['ignore', 'ignore', 'inherit'] });
    for (const [src, dst] of [[base, img], [upd, imgU], [multi, imgM]]) {
      execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${src}:latest`, `docker://${dst}`], { stdio: ['ignore', 'ignore', 'inherit'] });
    }
    const r = { cold: [] as number[], pcold: [] as number[], sk: [] as number[], upd: [] as number[], pupd: [] as number[], noop: [] as number[], pnoop: [] as number[], rss: [] as number[], prss: [] as number[], bytes: [] as number[], pbytes: [] as number[], multi: [] as number[], pmulti: [] as number[], mrss: [] as number[], pmrss: [] as number[] };
    for (let i = -1; i < SLOW_RUNS; i++) {
      const w = fs.mkdtempSync(path.join(work, 'pull-'));
      const se = storeEnv(path.join(w, 'atomic'));
      const pod = path.join(w, 'podman');
      const ours = () => {
        syncAll();
        const c = timed(BIN, ['pull', `docker://${img}`], { env: se });
        const before = duBytes(se.ATOMIC_OSTREE_REPO!);
        syncAll();
        const u = timed(BIN, ['pull', `docker://${imgU}`], { env: se });
        const bytes = duBytes(se.ATOMIC_OSTREE_REPO!) - before;
        const n = timed(BIN, ['pull', `docker://${img}`], { env: se });
        syncAll();
        const ml = timed(BIN, ['pull', `docker://${imgM}`], { env: storeEnv(path.join(w, 'atomic-multi')) });
        return { c, u, n, bytes, ml };
      };
      const peer = () => {
        syncAll();
        const c = podman(pod, ['pull', '-q', '--tls-verify=false', `docker://${img}`]);
        const before = duBytes(path.join(pod, 'root'));
        syncAll();
        const u = podman(pod, ['pull', '-q', '--tls-verify=false', `docker://${imgU}`]);
        const bytes = duBytes(path.join(pod, 'root')) - before;
        const n = podman(pod, ['pull', '-q', '--tls-verify=false', `docker://${img}`]);
        syncAll();
        const ml = podman(path.join(w, 'podman-multi'), ['pull', '-q', '--tls-verify=false', `docker://${imgM}`]);
        return { c, u, n, bytes, ml };
      };
      let a;
      let b;
      if (i % 2 === 0) {
        b = peer();
        a = ours();
      } else {
        a = ours();
        b = peer();
      }
      syncAll();
      const sk = timed('skopeo', ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${img}`, `oci:${path.join(w, 'skopeo-oci')}:latest`]).s;
      console.log(`  pull ${i < 0 ? 'warm-up' : `run ${i + 1}`}: cold atomic ${fmtS(a.c.s)} (${mib(a.c.rssMiB)}) podman ${fmtS(b.c.s)} (${mib(b.c.rssMiB)}) skopeo ${fmtS(sk)}; update atomic ${fmtS(a.u.s)} podman ${fmtS(b.u.s)}; no-op atomic ${fmtS(a.n.s)} podman ${fmtS(b.n.s)}; update bytes atomic ${a.bytes} podman ${b.bytes}; 4 layers atomic ${fmtS(a.ml.s)} (${mib(a.ml.rssMiB)}) podman ${fmtS(b.ml.s)} (${mib(b.ml.rssMiB)})`);
      // reset after the last round, not here: the next round's first tool would create its
      // files right after these ~20k inodes are freed, which this ext4 (no journal) charges to
      // it (docs/benchmarks.md, "The machine's own costs, tenth session")
      podmanRoots.push(pod, path.join(w, 'podman-multi'));
      if (i < 0) continue;
      r.cold.push(a.c.s);
      r.pcold.push(b.c.s);
      r.sk.push(sk);
      r.upd.push(a.u.s);
      r.pupd.push(b.u.s);
      r.noop.push(a.n.s);
      r.pnoop.push(b.n.s);
      r.rss.push(a.c.rssMiB);
      r.prss.push(b.c.rssMiB);
      r.bytes.push(a.bytes);
      r.pbytes.push(b.bytes);
      r.multi.push(a.ml.s);
      r.pmulti.push(b.ml.s);
      r.mrss.push(a.ml.rssMiB);
      r.pmrss.push(b.ml.rssMiB);
    }
    const m = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, median(v)])) as Record<keyof typeof r, number>;
    row('pull', 'cold pull of the Debian image (CLI)', fmtS(m.cold), 'podman pull', fmtS(m.pcold), m.cold / m.pcold, '<= 0.60x', 0.6);
    row('pull', 'cold pull (same)', fmtS(m.cold), 'skopeo copy -> oci:', fmtS(m.sk), m.cold / m.sk, '', null);
    row('pull', 'peak RSS of the cold pull', mib(m.rss), 'podman pull', mib(m.prss), m.rss / m.prss, '<= 1.50x', 1.5);
    row('pull', `update pull (${stats.changed} of ${stats.files} files changed)`, fmtS(m.upd), 'podman pull', fmtS(m.pupd), m.upd / m.pupd, '<= 0.60x', 0.6);
    row('pull', 'no-op re-pull', fmtS(m.noop), 'podman pull', fmtS(m.pnoop), m.noop / m.pnoop, '', null);
    row('pull', 'cold pull of the same tree as 4 layers (umoci)', fmtS(m.multi), 'podman pull', fmtS(m.pmulti), m.multi / m.pmulti, '<= 0.60x', 0.6);
    row('pull', 'peak RSS of the 4-layer pull', mib(m.mrss), 'podman pull', mib(m.pmrss), m.mrss / m.pmrss, '<= 1.50x', 1.5);
    row('disk', 'bytes written by the update pull', `${(m.bytes / 1048576).toFixed(1)} MiB`, 'changed files', `${(stats.changedBytes / 1048576).toFixed(1)} MiB`, m.bytes / stats.changedBytes, '<= 1.05x', 1.05);
    row('disk', 'bytes written by the update pull', `${(m.bytes / 1048576).toFixed(1)} MiB`, 'podman (overlay)', `${(m.pbytes / 1048576).toFixed(1)} MiB`, m.bytes / m.pbytes, '', null);
    json.pull_vs_podman = m.cold / m.pcold;
    json.update_pull_vs_podman = m.upd / m.pupd;
    json.noop_pull_vs_podman = m.noop / m.pnoop;
    json.pull_rss_vs_podman = m.rss / m.prss;
    json.multi_layer_pull_vs_podman = m.multi / m.pmulti;
    json.multi_layer_pull_rss_vs_podman = m.mrss / m.pmrss;
    json.update_bytes_vs_changed = m.bytes / stats.changedBytes;
  } finally {
    for (const p of podmanRoots) podmanReset(p);
    spawnSync('bash', [REGISTRY_SH, 'stop'], { env: regEnv, stdio: 'ignore' });
  }
}

/* ---------------------------------------- install ------------------------------------------- */

function benchInstall(work: string, fx: string): void {
  const S = path.join(work, 'sysroot');
  for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
  const env = { ...process.env, NODE_NO_WARNINGS: '1' };
  const a = (args: string[]) => timed(BIN, [...args, '--sysroot', S], { env });
  a(['pull', `oci:${fx}/oci:systest`]);
  a(['pull', `oci:${fx}/oci:systest-update`]);
  const list = JSON.parse(a(['images', 'list', '--json']).stdout) as Array<{ repo: string; tag: string }>;
  const name = (re: RegExp) => {
    const e = list.find((x) => re.test(`${x.repo}:${x.tag}`));
    if (!e) throw new Error(`no ${re} in ${JSON.stringify(list)}`);
    return `${e.repo}:${e.tag}`;
  };
  const img1 = name(/systest(:|$)/);
  const img2 = name(/systest-update/);
  const pod = path.join(work, 'podman-install');
  const pulled = podman(pod, ['pull', '-q', `oci:${fx}/oci:systest`]).stdout.trim().split('\n').pop()!;
  const ins: number[] = [];
  const upd: number[] = [];
  const rb: number[] = [];
  const un: number[] = [];
  const pc: number[] = [];
  const prm: number[] = [];
  for (let i = -1; i < RUNS; i++) {
    const n = `bench${i + 1}`;
    syncAll();
    const t1 = a(['install', '--system', '--name', n, img1]).s;
    const t2 = a(['containers', 'update', '--rebase', img2, n]).s;
    const t3 = a(['containers', 'rollback', n]).s;
    // --sysroot before NAME: what follows `uninstall NAME` belongs to an UNINSTALL label's command
    const t4 = timed(BIN, ['uninstall', '--sysroot', S, n], { env }).s;
    const c = podman(pod, ['create', '--name', `p${n}`, '--network', 'none', pulled]).s;
    const g = podman(pod, ['generate', 'systemd', '--new', '--files', '--name', `p${n}`]).s;
    const r = podman(pod, ['rm', `p${n}`]).s;
    console.log(
      `  install ${i < 0 ? 'warm-up' : `run ${i + 1}`}: install ${fmtS(t1)} update ${fmtS(t2)} rollback ${fmtS(t3)} uninstall ${fmtS(t4)}; podman create ${fmtS(c)} + generate ${fmtS(g)}, rm ${fmtS(r)}`,
    );
    if (i < 0) continue;
    ins.push(t1);
    upd.push(t2);
    rb.push(t3);
    un.push(t4);
    pc.push(c + g);
    prm.push(r);
  }
  podmanReset(pod);
  const p = median(pc);
  for (const [what, xs] of [['install --system of a cached small image (--sysroot)', ins], ['containers update --rebase', upd], ['containers rollback', rb]] as const) {
    const m = median(xs);
    row('install', what, fmtS(m), 'podman create + generate systemd --new --files', fmtS(p), m / p, '<= 1.00x', 1.0);
  }
  json.install_vs_podman = median(ins) / p;
  json.update_vs_podman = median(upd) / p;
  json.rollback_vs_podman = median(rb) / p;
  // no target: what `atomic_container state=absent` costs (stop and disable, unit, tmpfiles and both
  // deployments removed) next to removing podman's created container
  row('install', 'uninstall of that container', fmtS(median(un)), 'podman rm', fmtS(median(prm)), median(un) / median(prm), '', null);
  json.uninstall_vs_podman = median(un) / median(prm);
}

/* ---------------------------------------- downtime ------------------------------------------ */

function benchDowntime(fx: string): void {
  const harness = process.env.WITH_SYSTEMD ?? path.join(SHARED, 'systemd-harness', 'with-systemd');
  const r = spawnSync(harness, [process.execPath, path.join(here, 'downtime.js'), fx, String(SLOW_RUNS)], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, WITH_SYSTEMD_BIND: `${fx} ${BENCH_DIR}`, WITH_SYSTEMD_STOP_TIMEOUT: '20' },
    maxBuffer: 64 << 20,
  });
  const m = /@@DOWNTIME (.*)/.exec(r.stdout ?? '');
  if (!m) {
    console.log(`  downtime: the harness run failed (status ${r.status}): ${(r.stderr ?? '').slice(-1500)}`);
    json.update_downtime_s = null;
    return;
  }
  const d = JSON.parse(m[1]) as { update: number[]; restart: number[] };
  console.log(`  downtime: update ${d.update.map(fmtS).join(', ')}; systemctl restart ${d.restart.map(fmtS).join(', ')}`);
  const u = median(d.update);
  const s = median(d.restart);
  row('update', 'HTTP downtime during containers update (systemd)', fmtS(u), 'systemctl restart of the unit', fmtS(s), u / s, '<= 1.00x', 1.0);
  json.update_downtime_s = u;
  json.restart_downtime_s = s;
}

/* ------------------------------------------ main -------------------------------------------- */

async function main(): Promise<void> {
  const t0 = Date.now();
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  const work = fs.mkdtempSync(path.join(BENCH_DIR, 'run-'));
  const loadBefore = loadAverage();
  try {
    if (want('import') || want('pull')) ensureTar();
    const fx = want('install') || want('downtime') ? fixtures() : '';
    console.log(`bench: ${os.cpus().length} CPUs, load average ${loadBefore}; ${RUNS} runs (pulls/downtime ${SLOW_RUNS}), medians after a warm-up`);
    if (want('startup')) await benchStartup(work);
    if (want('install')) benchInstall(work, fx);
    if (want('import')) benchImport(work);
    if (want('pull')) await benchPull(work);
    if (want('large')) benchLargeFile(work, BIN, SLOW_RUNS, storeEnv, row, json);
    if (want('downtime')) benchDowntime(fx);
  } finally {
    // removed only at the end: creating files right after deleting ~20k inodes is slow on this ext4
    rmrf(work);
  }
  console.log('');
  printTable(rows);
  const secs = (Date.now() - t0) / 1000;
  console.log(`\nload average before ${loadBefore}, after ${loadAverage()}; bench took ${secs.toFixed(0)} s`);
  if (jsonArg) {
    const file = jsonArg.includes('=') ? jsonArg.slice(7) : path.join(process.cwd(), 'bench-results.json');
    const out = { date: new Date().toISOString(), load_average: loadBefore, runs: RUNS, ...json, rows };
    fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
    console.log(`wrote ${file}`);
  }
}

await main();
