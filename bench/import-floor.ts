/**
 * The import floor of this runtime (`npm run bench`, "import: floor: minimal Node importer"):
 * node dist/bench/import-floor.js TAR WORKDIR. What any Node importer of a layer tar into a
 * content-addressed store of one file per object must do, and nothing else, on one thread: read
 * the tar (synchronous 1 MiB reads), parse its ustar headers, sha256 the whole stream (the
 * diff_id) and each regular file's content (the object's name), create each new object in a
 * staging xx/ dir (create, write, mtime 0, close), make it durable with one syncfs (`sync -f`, as
 * the store and `ostree commit` do), then rename the staging xx/ dirs into objects/. Not done:
 * directory and symlink objects, owners and modes, xattrs, hardlinks, whiteouts, path checks,
 * the verified-object index, bounded memory for large files: so the store's import cannot be
 * faster than this on one thread. Prints {"importS": …, "objects": …, "bytes": …} (seconds in
 * this process, as dist/bench/import-child.js reports ours).
 */
import { execFileSync } from 'node:child_process';
import { createHash, hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const [tar, work] = process.argv.slice(2);
if (!tar || !work) throw new Error('usage: import-floor.js TAR WORKDIR');
const staging = path.join(work, 'staging');
const objects = path.join(work, 'objects');
fs.mkdirSync(staging, { recursive: true });
fs.mkdirSync(objects, { recursive: true });

const t0 = process.hrtime.bigint();
const fd = fs.openSync(tar, 'r');
let buf = Buffer.allocUnsafe(1 << 20);
let have = 0;
let pos = 0;
/** Make `n` bytes readable at buf[pos]; false at the end of the file. */
const fill = (n: number): boolean => {
  if (have - pos >= n) return true;
  if (pos > 0) {
    buf.copy(buf, 0, pos, have);
    have -= pos;
    pos = 0;
  }
  if (n > buf.length) {
    const bigger = Buffer.allocUnsafe(n);
    buf.copy(bigger, 0, 0, have);
    buf = bigger;
  }
  while (have < n) {
    const r = fs.readSync(fd, buf, have, buf.length - have, null);
    if (r === 0) return false;
    have += r;
  }
  return true;
};
/** An octal ustar number field (digits up to a NUL or space). */
const octal = (h: Buffer, off: number, len: number): number => {
  let n = 0;
  let i = off;
  while (i < off + len && h[i] === 0x20) i++;
  for (; i < off + len; i++) {
    const d = h[i]! - 0x30;
    if (d < 0 || d > 7) break;
    n = n * 8 + d;
  }
  return n;
};

const diffId = createHash('sha256');
const made = new Set<string>();
let count = 0;
let bytes = 0;
while (fill(512)) {
  const h = buf.subarray(pos, pos + 512);
  if (h[0] === 0) break; // end-of-archive block
  // the checksum field counts as eight spaces
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += h[i]!;
  for (let i = 156; i < 512; i++) sum += h[i]!;
  if (sum !== octal(h, 148, 8)) throw new Error(`import-floor: bad tar header checksum at ${pos}`);
  const size = octal(h, 124, 12);
  const type = h[156];
  const padded = Math.ceil(size / 512) * 512;
  diffId.update(h);
  pos += 512;
  if (!fill(padded)) throw new Error('import-floor: truncated tar');
  const data = buf.subarray(pos, pos + size);
  diffId.update(buf.subarray(pos, pos + padded));
  pos += padded;
  if (type !== 0x30 && type !== 0) continue; // regular files only ('0', old '\0')
  const c = hash('sha256', data, 'hex');
  const xx = c.slice(0, 2);
  if (!made.has(xx)) {
    fs.mkdirSync(path.join(staging, xx));
    made.add(xx);
  }
  let out: number;
  try {
    out = fs.openSync(path.join(staging, xx, `${c.slice(2)}.file`), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue; // the same content again
    throw e;
  }
  for (let off = 0; off < data.length;) off += fs.writeSync(out, data, off);
  fs.futimesSync(out, 0, 0);
  fs.closeSync(out);
  count++;
  bytes += size;
}
fs.closeSync(fd);
diffId.digest('hex');
execFileSync('sync', ['-f', work]);
for (const xx of made) fs.renameSync(path.join(staging, xx), path.join(objects, xx));
const importS = Number(process.hrtime.bigint() - t0) / 1e9;
process.stdout.write(JSON.stringify({ importS, objects: count, bytes }) + '\n');
