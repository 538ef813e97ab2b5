/** Listing of a checked-out tree in the golden format of make-images.sh: `TYPE MODE UID:GID SIZE PATH [-> TARGET]`. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function rootfsListing(root: string): string {
  const out: string[] = [];
  const walk = (rel: string) => {
    const names = fs.readdirSync(path.join(root, rel)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const n of names) {
      const r = `${rel}/${n}`;
      const p = path.join(root, r);
      const st = fs.lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      const own = `${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.push(`d ${mode} ${own} - ${r}`);
        walk(r);
      } else if (st.isSymbolicLink()) out.push(`l ${mode} ${own} - ${r} -> ${fs.readlinkSync(p)}`);
      else if (st.isFile()) out.push(`f ${mode} ${own} ${st.size} ${r}`);
      else out.push(`? ${mode} ${own} - ${r}`);
    }
  };
  walk('');
  return out.join('\n') + '\n';
}
