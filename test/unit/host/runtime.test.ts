/**
 * The runtime probe cache (host/runtime.ts): `runc --help` / `run --help` are read once per runtime
 * binary and remembered in the store's state dir; a changed binary or an untrustworthy cache file
 * means probing again, and a missing runtime is still refused.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkRuntime, runtimeFeatures } from '../../../src/host/runtime.js';
import { makeTempDir } from '../../helpers/fixtures.js';
import { isAtomicError } from '../../../src/util/errors.js';

describe('runtime probe cache', () => {
  let dir: string;
  let rt: string;
  let log: string;
  let state: string;
  const calls = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).length : 0);
  const cacheWritten = async () => {
    for (let i = 0; i < 200 && !fs.existsSync(path.join(state, 'runtime-probe.json')); i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 20));
  };
  const fakeRuntime = (helpExtra: string) =>
    fs.writeFileSync(rt, `#!/bin/sh\necho "$*" >> ${log}\nif [ "$1" = run ]; then echo "  --pid-file value"; else echo "  --root value ${helpExtra}"; fi\n`, { mode: 0o755 });

  beforeEach(() => {
    dir = makeTempDir('atomic-runtime-');
    rt = path.join(dir, 'runc');
    log = path.join(dir, 'calls');
    state = path.join(dir, 'state');
    fakeRuntime('--systemd-cgroup');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('probes once, then answers from the cache (check and features)', async () => {
    assert.deepEqual(runtimeFeatures(rt, false, state), { systemdCgroup: true, pidFile: true });
    assert.equal(calls(), 2);
    await cacheWritten();
    assert.deepEqual(runtimeFeatures(rt, false, state), { systemdCgroup: true, pidFile: true });
    assert.deepEqual(runtimeFeatures(rt, true, state), { systemdCgroup: false, pidFile: true }, 'user mode never uses --systemd-cgroup');
    checkRuntime(rt, state);
    assert.equal(calls(), 2);
  });

  it('a changed binary is probed again', async () => {
    runtimeFeatures(rt, false, state);
    await cacheWritten();
    fakeRuntime('(no cgroup flag here)');
    assert.deepEqual(runtimeFeatures(rt, false, state), { systemdCgroup: false, pidFile: true });
    assert.equal(calls(), 4);
  });

  it('a cache file others can write is ignored; without a cache dir nothing is cached', async () => {
    runtimeFeatures(rt, false, state);
    await cacheWritten();
    fs.chmodSync(path.join(state, 'runtime-probe.json'), 0o666);
    runtimeFeatures(rt, false, state);
    assert.equal(calls(), 4);
    runtimeFeatures(rt, false);
    assert.equal(calls(), 6);
  });

  it('a missing runtime is still refused with a cache dir', () => {
    assert.throws(() => checkRuntime(path.join(dir, 'nope'), state), (e: unknown) => isAtomicError(e) && e.code === 'NOT_FOUND');
  });
});
