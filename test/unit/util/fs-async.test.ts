/**
 * util/fs-async.ts against node:fs/promises, the API it stands in for: the same values and the
 * same errors (code, errno, syscall, path: what isErrno / wrapError and the callers' messages
 * read) for every call the deploy modules make through it.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { fsa } from '../../../src/util/fs-async.js';
import { makeTempDir } from '../../helpers/fixtures.js';

type Outcome = { ok: unknown } | { err: { code?: string; errno?: number; syscall?: string; path?: string; dest?: string; message: string } };

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    const v = await p;
    if (v instanceof fs.Stats) return { ok: { ino: v.ino, mode: v.mode, size: v.size, nlink: v.nlink } };
    if (Array.isArray(v) && v[0] instanceof fs.Dirent) return { ok: (v as fs.Dirent[]).map((d) => [d.name, d.isDirectory(), d.isFile(), d.isSymbolicLink()]).sort() };
    return { ok: v };
  } catch (e) {
    const x = e as NodeJS.ErrnoException & { dest?: string };
    return { err: { code: x.code, errno: x.errno, syscall: x.syscall, path: x.path, dest: x.dest, message: x.message } };
  }
}

describe('util/fs-async: promise forms of node:fs without node:fs/promises', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('fs-async-');
    fs.mkdirSync(path.join(dir, 'd'));
    fs.writeFileSync(path.join(dir, 'd', 'f'), 'hello');
    fs.symlinkSync('f', path.join(dir, 'd', 'l'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const p = (...parts: string[]): string => path.join(dir, ...parts);

  it('reads, lists and stats as node:fs/promises does, values and errors alike', async () => {
    const cases: Array<[string, () => Promise<unknown>, () => Promise<unknown>]> = [
      ['readFile buffer', () => fsa.readFile(p('d', 'f')), () => fsp.readFile(p('d', 'f'))],
      ['readFile utf8', () => fsa.readFile(p('d', 'f'), 'utf8'), () => fsp.readFile(p('d', 'f'), 'utf8')],
      ['readFile missing', () => fsa.readFile(p('nope'), 'utf8'), () => fsp.readFile(p('nope'), 'utf8')],
      ['readFile of a directory', () => fsa.readFile(p('d')), () => fsp.readFile(p('d'))],
      ['readFile under a file', () => fsa.readFile(p('d', 'f', 'x')), () => fsp.readFile(p('d', 'f', 'x'))],
      ['readdir', async () => (await fsa.readdir(p('d'))).sort(), async () => (await fsp.readdir(p('d'))).sort()],
      ['readdir withFileTypes', () => fsa.readdir(p('d'), { withFileTypes: true }), () => fsp.readdir(p('d'), { withFileTypes: true })],
      ['readdir missing', () => fsa.readdir(p('none')), () => fsp.readdir(p('none'))],
      ['lstat of a symlink', () => fsa.lstat(p('d', 'l')), () => fsp.lstat(p('d', 'l'))],
      ['stat through a symlink', () => fsa.stat(p('d', 'l')), () => fsp.stat(p('d', 'l'))],
      ['lstat missing', () => fsa.lstat(p('none')), () => fsp.lstat(p('none'))],
      ['readlink', () => fsa.readlink(p('d', 'l')), () => fsp.readlink(p('d', 'l'))],
      ['readlink of a file', () => fsa.readlink(p('d', 'f')), () => fsp.readlink(p('d', 'f'))],
    ];
    for (const [what, ours, theirs] of cases) assert.deepEqual(await outcome(ours()), await outcome(theirs()), what);
  });

  it('changes the tree as node:fs/promises does, and fails the same way', async () => {
    // each change is made twice, on twin trees: ours under a/, node:fs/promises' under b/
    fs.mkdirSync(p('a'));
    fs.mkdirSync(p('b'));
    const both = async (what: string, op: (root: string, api: typeof fsa | typeof fsp) => Promise<unknown>): Promise<void> => {
      const mine = await outcome(op(p('a'), fsa));
      const ref = await outcome(op(p('b'), fsp));
      const norm = (o: Outcome): Outcome => JSON.parse(JSON.stringify(o).split(p('a')).join('R').split(p('b')).join('R')) as Outcome;
      assert.deepEqual(norm(mine), norm(ref), what);
    };
    await both('mkdir recursive', (r, api) => api.mkdir(path.join(r, 'x', 'y'), { recursive: true, mode: 0o755 }));
    await both('mkdir existing', (r, api) => api.mkdir(path.join(r, 'x'), { mode: 0o755 }));
    await both('writeFile wx', (r, api) => api.writeFile(path.join(r, 'x', 'w'), 'data', { mode: 0o640, flag: 'wx' }));
    await both('writeFile wx existing', (r, api) => api.writeFile(path.join(r, 'x', 'w'), 'data', { mode: 0o640, flag: 'wx' }));
    await both('chmod', (r, api) => api.chmod(path.join(r, 'x', 'w'), 0o600));
    await both('link', (r, api) => api.link(path.join(r, 'x', 'w'), path.join(r, 'x', 'w2')));
    await both('link existing', (r, api) => api.link(path.join(r, 'x', 'w'), path.join(r, 'x', 'w2')));
    await both('symlink', (r, api) => api.symlink('w', path.join(r, 'x', 's')));
    await both('rename', (r, api) => api.rename(path.join(r, 'x', 'w2'), path.join(r, 'x', 'w3')));
    await both('rename missing', (r, api) => api.rename(path.join(r, 'x', 'w2'), path.join(r, 'x', 'w4')));
    await both('unlink', (r, api) => api.unlink(path.join(r, 'x', 'w3')));
    await both('unlink missing', (r, api) => api.unlink(path.join(r, 'x', 'w3')));
    await both('rm force missing', (r, api) => api.rm(path.join(r, 'nothing'), { force: true }));
    await both('rm without force, missing', (r, api) => api.rm(path.join(r, 'nothing'), {}));
    await both('rm a directory without recursive', (r, api) => api.rm(path.join(r, 'x'), { force: true }));
    const tree = (r: string): string[] =>
      fs
        .readdirSync(r, { recursive: true, withFileTypes: false })
        .map(String)
        .sort()
        .map((n) => `${n} ${(fs.lstatSync(path.join(r, n)).mode & 0o170777).toString(8)}`);
    assert.deepEqual(tree(p('a')), tree(p('b')));
    await both('rm recursive', (r, api) => api.rm(path.join(r, 'x'), { recursive: true, force: true }));
    assert.deepEqual(fs.readdirSync(p('a')), []);
  });

  it('open: read, writeFile from the current position, chmod, chown, sync, close; and open errors', async () => {
    const h = await fsa.open(p('d', 'f'), 'r');
    const buf = Buffer.alloc(16);
    assert.deepEqual(await h.read(buf, 0, 16, 1), { bytesRead: 4 });
    assert.equal(buf.toString('utf8', 0, 4), 'ello');
    await h.close();
    await assert.rejects(h.close(), { code: 'EBADF' }, 'closed twice');

    const f = p('d', 'new');
    const w = await fsa.open(f, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    await w.writeFile('first ');
    await w.writeFile(new Uint8Array(Buffer.from('second')));
    await w.chown(1234, 5678);
    await w.chmod(0o4640); // after the chown, which clears set-user-ID
    await w.sync();
    await w.close();
    assert.equal(fs.readFileSync(f, 'utf8'), 'first second');
    const st = fs.statSync(f);
    assert.equal(st.mode & 0o7777, 0o4640);
    assert.deepEqual([st.uid, st.gid], [1234, 5678]);

    const d = await fsa.open(p('d'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    await d.sync();
    await d.close();
    for (const [what, target, flags] of [
      ['exclusive create of an existing file', f, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL],
      ['O_NOFOLLOW on a symlink', p('d', 'l'), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW],
      ['O_DIRECTORY on a file', f, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY],
      ['a missing file', p('d', 'missing'), 'r'],
    ] as Array<[string, string, string | number]>) {
      const mine = await outcome(fsa.open(target, flags).then((x) => x.close()));
      const ref = await outcome(fsp.open(target, flags).then((x) => x.close()));
      assert.deepEqual(mine, ref, what);
      assert.ok('err' in mine, `${what} fails`);
    }
  });
});
