/**
 * Lines written to fd 1 / fd 2 with write(2) until something unusual happens, then through
 * process.stdout / process.stderr as before.
 *
 * Creating process.stdout costs node a stream: on a pipe (scripts, Ansible, the bench) it loads
 * `net` and the stream machinery, ~15 M instructions for a deploy command that prints three lines
 * (docs/benchmarks.md, "Install / update / rollback, seventh session"). On Linux node writes to
 * files, pipes and terminals synchronously anyway, so a blocking write(2) of the whole line prints
 * the same bytes in the same order. Anything else - EAGAIN on a non-blocking descriptor, EPIPE, a
 * short write - hands the rest of the line, and every later line of that descriptor, to the stream,
 * so errors surface exactly as they did (an asynchronous 'error' on the stream) and nothing is
 * reordered behind data the stream still holds.
 */
import * as fs from 'node:fs';

const viaStream = [false, false, false];

function stream(fd: 1 | 2): NodeJS.WriteStream {
  return fd === 1 ? process.stdout : process.stderr;
}

/** Write TEXT to FD (1 or 2) as process.stdout/stderr.write(TEXT) would. */
export function writeFd(fd: 1 | 2, text: string): void {
  if (!viaStream[fd]) {
    const buf = Buffer.from(text, 'utf8');
    let n = 0;
    try {
      n = fs.writeSync(fd, buf);
    } catch {
      n = 0; // the stream reports it, as before
    }
    if (n === buf.length) return;
    viaStream[fd] = true;
    stream(fd).write(buf.subarray(n));
    return;
  }
  stream(fd).write(text);
}
