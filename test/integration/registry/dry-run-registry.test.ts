/**
 * `--dry-run` against the real registry: a preview of an image that is not pulled reads its
 * manifest only — the registry's log shows no blob GET — and lists the layers with the sizes
 * the manifest gives; an image whose layers are all in the store (another tag of them) is
 * rendered from the store, with at most the config blob fetched, never a layer.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir } from '../../helpers/fixtures.js';
import { atomicSysroot } from '../../helpers/cli.js';
import { treeSnapshot } from '../../helpers/deploy-state.js';
import { blobRequests, startRegistry, type TestRegistry } from '../../helpers/registry-server.js';

interface Report {
  files: { path: string; change: string }[] | null;
  filesNote: string | null;
  layers: { digest: string; size: number | null; present: boolean }[];
  download: { layers: number; bytes: number | null };
  notes: string[];
}

describe('integration: --dry-run against a registry fetches no layer blob', function () {
  this.timeout(240_000);
  let reg: TestRegistry;
  let tmp: string;
  let S: string;
  let extra: Record<string, string>;
  const a = (args: string[]) => atomicSysroot(S, args, extra);
  const manifestOf = (repoTag: string): { config: { digest: string }; layers: { digest: string; size: number }[] } => {
    const [repo, tag] = repoTag.split(':') as [string, string];
    const dir = path.join(reg.dir, 'data', 'docker', 'registry', 'v2', 'repositories', repo, '_manifests', 'tags', tag, 'current', 'link');
    const digest = fs
      .readFileSync(dir, 'utf8')
      .trim()
      .replace(/^sha256:/, '');
    return JSON.parse(fs.readFileSync(path.join(reg.dir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', digest.slice(0, 2), digest, 'data'), 'utf8')) as {
      config: { digest: string };
      layers: { digest: string; size: number }[];
    };
  };
  /** Runs a dry run: exit 0, the sysroot unchanged, and the blob GETs it caused. */
  const dryRun = (args: string[]): { stdout: string; blobs: string[] } => {
    const before = treeSnapshot(S);
    const n = blobRequests(reg).length;
    const r = a(args);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(treeSnapshot(S), before, `${args.join(' ')} changed the sysroot`);
    return { stdout: r.stdout, blobs: blobRequests(reg).slice(n) };
  };

  before(async () => {
    tmp = makeTempDir('atomic-dryrun-reg-');
    S = path.join(tmp, 'sysroot');
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'empty.conf'), '');
    extra = { CONTAINERS_REGISTRIES_CONF: path.join(tmp, 'empty.conf'), REGISTRY_AUTH_FILE: path.join(tmp, 'none.json'), ATOMIC_CERTS_D: path.join(tmp, 'none') };
    reg = await startRegistry();
  });
  after(() => {
    reg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('install --dry-run of an image that is not pulled: layers and sizes from the manifest, no blob GET, no store', () => {
    const m = manifestOf('fixtures/systest:1.0');
    const { stdout, blobs } = dryRun(['install', '--system', '--dry-run', '--name', 'web', `docker://${reg.host}/fixtures/systest:1.0`]);
    assert.deepEqual(blobs, [], 'no blob was requested');
    assert.match(stdout, /^Files: Not rendered: the image docker:\/\/\S+ is not in the store.*atomic pull docker:\/\/\S+fixtures\/systest:1\.0/m);
    for (const l of m.layers) assert.match(stdout, new RegExp(`^  sha256:${l.digest.slice(7, 19)}  ${l.size} bytes.*  to download$`, 'm'));
    assert.equal(fs.existsSync(path.join(S, 'ostree')), false);
    const { stdout: js, blobs: blobs2 } = dryRun(['install', '--system', '--dry-run', '--json', '--name', 'web', `docker://${reg.host}/fixtures/systest:1.0`]);
    assert.deepEqual(blobs2, []);
    const r = JSON.parse(js) as Report;
    assert.deepEqual(
      r.layers,
      m.layers.map((l) => ({ digest: l.digest, size: l.size, present: false })),
    );
    assert.deepEqual(r.download, { layers: m.layers.length, bytes: m.layers.reduce((n, l) => n + l.size, 0) });
  });

  it('containers update --dry-run --rebase to an unpulled tag: only its new layer is to download, no blob GET', () => {
    const n0 = blobRequests(reg).length;
    assert.equal(a(['pull', `docker://${reg.host}/fixtures/systest:1.0`]).status, 0);
    assert.ok(blobRequests(reg).length > n0, 'the log shows the blob GETs of a real pull');
    assert.equal(a(['install', '--system', '--name', 'web', `docker://${reg.host}/fixtures/systest:1.0`]).status, 0);
    const m = manifestOf('fixtures/systest:2.0');
    const old = manifestOf('fixtures/systest:1.0');
    const missing = m.layers.filter((l) => !old.layers.some((o) => o.digest === l.digest));
    assert.equal(missing.length, 1);
    const { stdout, blobs } = dryRun(['containers', 'update', '--dry-run', '--json', '--rebase', `docker://${reg.host}/fixtures/systest:2.0`, 'web']);
    assert.deepEqual(blobs, [], 'no blob was requested');
    const r = JSON.parse(stdout) as Report;
    assert.equal(r.files, null);
    assert.deepEqual(r.download, { layers: 1, bytes: missing[0]!.size });
    assert.deepEqual(
      r.layers.filter((l) => !l.present).map((l) => l.digest),
      [missing[0]!.digest],
    );
  });

  it('an unpulled tag whose layers are all in the store is rendered from them; no layer blob is fetched', () => {
    // the Docker v2s2 copy of systest:1.0 has the same layers under another manifest
    const m = manifestOf('fixtures/systest-docker:1.0');
    const stored = manifestOf('fixtures/systest:1.0');
    assert.ok(
      m.layers.every((l) => stored.layers.some((s) => s.digest === l.digest)),
      'the fixture shares the layers',
    );
    const { stdout, blobs } = dryRun(['containers', 'update', '--dry-run', '--rebase', `docker://${reg.host}/fixtures/systest-docker:1.0`, '--set', 'PORT=8111', 'web']);
    for (const l of m.layers) assert.ok(!blobs.some((b) => b.includes(l.digest)), `layer ${l.digest} was fetched: ${blobs.join('\n')}`);
    assert.ok(
      blobs.every((b) => b.includes(m.config.digest)),
      `only the config blob may be fetched: ${blobs.join('\n')}`,
    );
    assert.match(stdout, /^\+Description=.*port 8111\)$/m);
    assert.match(stdout, /^ {2}PORT: "\d+" -> "8111" \(--set\)$/m);
    assert.match(stdout, /^Disk space: nothing to download/m);
  });
});
