/**
 * The checkout floor of this runtime (`npm run bench`, "checkout: floor: mkdir + lstat + link
 * from a list, Node"): node dist/bench/checkout-floor.js LIST DEST replays the list of
 * bench/checkout-list.ts (the format is in checkout-floor.c) with Node's synchronous fs calls on
 * one thread: mkdir for each directory, then for each file one lstat of its object (what a
 * checkout that checks its objects before linking them needs at least) and one link, and the
 * symlinks and empty files. No tree object is read. Prints {"s": …} (seconds in this process).
 */
import * as fs from 'node:fs';

const [list, dest] = process.argv.slice(2);
if (!list || !dest) throw new Error('usage: checkout-floor.js LIST DEST');
const f = fs.readFileSync(list, 'utf8').split('\0');
f.pop();
process.chdir(dest);
const t0 = process.hrtime.bigint();
for (let i = 0; i < f.length; i += 3) if (f[i] === 'D') fs.mkdirSync(f[i + 2]!, parseInt(f[i + 1]!, 8));
for (let i = 0; i < f.length; i += 3) {
  const t = f[i];
  if (t === 'L') {
    fs.lstatSync(f[i + 1]!);
    fs.linkSync(f[i + 1]!, f[i + 2]!);
  } else if (t === 'S') fs.symlinkSync(f[i + 1]!, f[i + 2]!);
  else if (t === 'E') fs.closeSync(fs.openSync(f[i + 2]!, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, parseInt(f[i + 1]!, 8)));
}
process.stdout.write(JSON.stringify({ s: Number(process.hrtime.bigint() - t0) / 1e9 }) + '\n');
