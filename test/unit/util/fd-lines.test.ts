import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FD_LINES = fileURLToPath(new URL('../../../src/util/fd-lines.js', import.meta.url));

/** Runs BODY (an ES module body with writeFd imported) in a fresh node, its stdout a pipe (non-blocking: NONBLOCKINGSTDOUT). */
function child(body: string, nonBlockingStdout = false): { stdout: Buffer; stderr: string; status: number | null } {
  const script = `import { writeFd } from ${JSON.stringify(FD_LINES)};\n${body}`;
  if (!nonBlockingStdout) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'buffer' });
    return { stdout: r.stdout, stderr: r.stderr.toString(), status: r.status };
  }
  // a pipe whose write end is non-blocking (as a parent's event loop may leave it): a big line
  // meets EAGAIN once the pipe is full, and the reader here drains it only after a while
  const py = [
    'import os, subprocess, sys, time',
    'r, w = os.pipe()',
    'os.set_blocking(w, False)',
    'p = subprocess.Popen([sys.argv[1], "--input-type=module", "-e", sys.argv[2]], stdout=w, stderr=subprocess.PIPE)',
    'os.close(w)',
    'time.sleep(0.3)',
    'out = b""',
    'while True:',
    '    b = os.read(r, 65536)',
    '    if not b: break',
    '    out += b',
    'err = p.stderr.read()',
    'p.wait()',
    'sys.stdout.buffer.write(out)',
    'sys.stderr.buffer.write(err)',
    'sys.exit(p.returncode)',
  ].join('\n');
  const r = spawnSync('python3', ['-c', py, process.execPath, script], { encoding: 'buffer', maxBuffer: 16 << 20 });
  if (r.error) throw r.error;
  return { stdout: r.stdout, stderr: r.stderr.toString(), status: r.status };
}

describe('util/fd-lines (deploy output without process.stdout)', function () {
  this.timeout(30_000);

  it('writes the same bytes in the same order as the streams, and creates neither stream', () => {
    const r = child(
      [
        "writeFd(1, 'Extracting to /x\\n');",
        "writeFd(2, 'Note: é ✓\\n');",
        "writeFd(1, 'systemctl enable x.service\\n');",
        'const loaded = process.moduleLoadList.filter((m) => /^NativeModule (net|tty|internal\\/fs\\/sync_write_stream)$/.test(m));',
        "writeFd(2, `loaded: ${loaded.join(',') || 'none'}\\n`);",
      ].join('\n'),
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'Extracting to /x\nsystemctl enable x.service\n');
    assert.equal(r.stderr, 'Note: é ✓\nloaded: none\n');
  });

  it('lines after process.stdout.write stay in order', () => {
    const r = child("writeFd(1, 'a\\n'); process.stdout.write('b\\n'); writeFd(1, 'c\\n'); console.log('d'); writeFd(1, 'e\\n');");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'a\nb\nc\nd\ne\n');
  });

  it('a non-blocking pipe that fills up (EAGAIN, short write): the rest goes through the stream, nothing lost or reordered', () => {
    const big = 'x'.repeat(300_000);
    const r = child("writeFd(1, 'first\\n'); writeFd(1, 'x'.repeat(300000) + '\\n'); writeFd(1, 'last\\n'); writeFd(2, 'done\\n');", true);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), `first\n${big}\nlast\n`);
    assert.equal(r.stderr, 'done\n');
  });
});
