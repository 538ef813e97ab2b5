/**
 * The list the checkout floors replay (bench/checkout-floor.c, bench/checkout-floor.ts), taken
 * from `ostree checkout -H`'s result, not from our store: every directory (parents first, with
 * its mode), every file hardlinked to an object of ostree's repository (found by inode), every
 * symlink and empty file ostree made itself. NUL-separated records of three fields (see
 * checkout-floor.c), paths relative to the checkout's root.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function writeCheckoutList(repo: string, checkout: string, list: string): void {
  const byInode = new Map<number, string>();
  const objects = path.join(path.resolve(repo), 'objects');
  for (const xx of fs.readdirSync(objects)) {
    for (const name of fs.readdirSync(path.join(objects, xx))) {
      if (!name.endsWith('.file')) continue;
      const p = path.join(objects, xx, name);
      byInode.set(fs.lstatSync(p).ino, p);
    }
  }
  const out: string[] = [];
  const walk = (rel: string): void => {
    const subdirs: string[] = [];
    for (const d of fs.readdirSync(path.join(checkout, rel), { withFileTypes: true })) {
      const r = rel === '' ? d.name : `${rel}/${d.name}`;
      const st = fs.lstatSync(path.join(checkout, r));
      const obj = byInode.get(st.ino);
      if (st.isDirectory()) {
        out.push('D', (st.mode & 0o7777).toString(8), r);
        subdirs.push(r);
      } else if (obj !== undefined) {
        out.push('L', obj, r);
      } else if (st.isSymbolicLink()) {
        out.push('S', fs.readlinkSync(path.join(checkout, r)), r);
      } else if (st.isFile() && st.size === 0) {
        out.push('E', (st.mode & 0o7777).toString(8), r);
      } else throw new Error(`checkout list: ${r} in ${checkout} is neither linked to an object of ${repo} nor a symlink or an empty file`);
    }
    for (const r of subdirs) walk(r);
  };
  walk('');
  fs.writeFileSync(list, out.join('\0') + '\0');
}
