/**
 * Crash injection for install, update, rollback and uninstall: the command is SIGKILLed at every
 * step boundary (each fault point it reaches, enumerated with ATOMIC_FAULT_TRACE and hit with
 * ATOMIC_FAULT_AT=n). After each kill, once atomic has looked at it (any command replays the
 * journal of an interrupted operation), the container must be entirely old or entirely new (or
 * absent); the real `ostree fsck` must pass, and re-running the same command must succeed and
 * leave a consistent deployment.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { atomicSysroot } from '../../helpers/cli.js';
import { deployState, CK } from '../../helpers/deploy-state.js';

interface Scenario {
  op: string;
  setup: string[][];
  command: string[];
  /** state after the re-run */
  final: 'installed' | 'absent';
}

const NAME = 'crash';
const SCENARIOS: Scenario[] = [
  { op: 'install', setup: [], command: ['install', '--system', '--name', NAME, '--set', 'RECEIVER=Crash', 'systest'], final: 'installed' },
  { op: 'update', setup: [['install', '--system', '--name', NAME, 'systest']], command: ['containers', 'update', '--set', 'PORT=9009', NAME], final: 'installed' },
  {
    op: 'update --rebase',
    setup: [['install', '--system', '--name', NAME, 'systest']],
    command: ['containers', 'update', '--rebase', 'systest-update', NAME],
    final: 'installed',
  },
  { op: 'rollback', setup: [['install', '--system', '--name', NAME, 'systest'], ['containers', 'update', '--set', 'PORT=9010', NAME]], command: ['containers', 'rollback', NAME], final: 'installed' },
  { op: 'uninstall', setup: [['install', '--system', '--name', NAME, 'systest']], command: ['uninstall', NAME], final: 'absent' },
];

function fsck(repo: string): void {
  execFileSync('ostree', ['fsck', '--quiet', `--repo=${repo}`], { env: { ...process.env, LC_ALL: 'C.UTF-8' }, stdio: ['ignore', 'ignore', 'pipe'] });
}

describe('crash injection: every step of install/update/rollback/uninstall', function () {
  this.timeout(900_000);
  let work: string;
  let base: string;
  let total = 0;

  before(() => {
    const fx = fixtureImages();
    work = makeTempDir('atomic-crash-');
    base = path.join(work, 'base');
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(base, d), { recursive: true });
    for (const src of ['systest', 'systest-update']) {
      const r = atomicSysroot(base, ['pull', `oci:${fx}/oci:${src}`]);
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(() => {
    fs.rmSync(work, { recursive: true, force: true });
    console.log(`      crash points covered: ${total}`);
  });

  for (const sc of SCENARIOS) {
    it(`${sc.op}: killed at each step, then consistent and re-runnable`, () => {
      const tmpl = path.join(work, `tmpl-${sc.op.replace(/\W+/g, '-')}`);
      execFileSync('cp', ['-a', base, tmpl]);
      for (const s of sc.setup) {
        const r = atomicSysroot(tmpl, s);
        assert.equal(r.status, 0, `${s.join(' ')}: ${r.stderr}`);
      }
      // enumerate the step boundaries of the command
      const traceRoot = path.join(work, 'trace-root');
      fs.rmSync(traceRoot, { recursive: true, force: true });
      execFileSync('cp', ['-a', tmpl, traceRoot]);
      const trace = path.join(work, 'trace.txt');
      fs.rmSync(trace, { force: true });
      const ok = atomicSysroot(traceRoot, sc.command, { ATOMIC_FAULT_TRACE: trace });
      assert.equal(ok.status, 0, ok.stderr);
      const points = fs.readFileSync(trace, 'utf8').trim().split('\n');
      assert.ok(points.length >= 5, `expected several step boundaries, got ${points.join(',')}`);
      const failures: string[] = [];
      for (let i = 1; i <= points.length; i++) {
        const root = path.join(work, `run-${i}`);
        execFileSync('cp', ['-a', tmpl, root]);
        const killed = atomicSysroot(root, sc.command, { ATOMIC_FAULT_AT: String(i) });
        total++;
        const where = `${sc.op} killed at step ${i} (${points[i - 1]})`;
        if (killed.status !== 137) failures.push(`${where}: expected SIGKILL, got ${killed.status} ${killed.stderr}`);
        // what a user sees through atomic: any command repairs an interrupted operation first
        const look = atomicSysroot(root, ['containers', 'list', '-a', '-q']);
        if (look.status !== 0) failures.push(`${where}: containers list failed: ${look.stderr}`);
        const st = deployState(root, NAME);
        if (st.problems.length) failures.push(`${where}: inconsistent: ${st.problems.join('; ')}`);
        try {
          fsck(path.join(root, CK, '.storage', 'ostree'));
        } catch (e) {
          failures.push(`${where}: ostree fsck failed: ${(e as { stderr?: Buffer }).stderr?.toString()}`);
        }
        const again = atomicSysroot(root, sc.command);
        if (again.status !== 0) failures.push(`${where}: re-run failed (${again.status}): ${again.stderr}`);
        const fin = deployState(root, NAME);
        if (fin.problems.length || fin.kind !== sc.final) failures.push(`${where}: after re-run: ${fin.kind} ${fin.problems.join('; ')}`);
        if (fs.existsSync(path.join(root, CK, '.atomic', 'journal', `${NAME}.json`))) failures.push(`${where}: journal left behind after re-run`);
        fs.rmSync(root, { recursive: true, force: true });
      }
      assert.deepEqual(failures, []);
    });
  }
});
