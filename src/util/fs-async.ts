/**
 * Promise forms of the node:fs calls that the deploy commands make (install, update, rollback:
 * the atomic writes, the store's reads, the locks, the slot's fsyncs), built on node:fs's callback
 * API instead of node:fs/promises.
 *
 * Why: the first use of `fs.promises` loads node:fs/promises with its FileHandle class, the file
 * watchers and readline (~10 M instructions in Node 20, ~4% of a cached install; Node 20 has no
 * compile cache for its own modules). The callback API is part of node:fs, which every command
 * has loaded anyway. The calls are the same thread-pool requests, resolve to the same values and
 * reject with the same errors (code, errno, syscall, path), so the modules that use this read as
 * they did with `fsp` (`import { fsa as fsp }`). Only what those modules call is here; anything
 * else keeps using node:fs/promises.
 */
import * as fs from 'node:fs';

type Done<T> = (e: NodeJS.ErrnoException | null, v: T) => void;

function call<T>(start: (done: Done<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => start((e, v) => (e ? reject(e) : resolve(v))));
}

/** The FileHandle methods those modules use, on a file descriptor (one object per open file, its methods shared). */
export class AsyncHandle {
  constructor(private readonly fd: number) {}

  async read(buf: Buffer, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }> {
    return { bytesRead: await call<number>((d) => fs.read(this.fd, buf, offset, length, position, d)) };
  }
  /** Writes all of `data` from the current position (as FileHandle.writeFile). */
  writeFile(data: string | Uint8Array): Promise<void> {
    return call<void>((d) => fs.writeFile(this.fd, data, d));
  }
  chmod(mode: number): Promise<void> {
    return call<void>((d) => fs.fchmod(this.fd, mode, d));
  }
  chown(uid: number, gid: number): Promise<void> {
    return call<void>((d) => fs.fchown(this.fd, uid, gid, d));
  }
  sync(): Promise<void> {
    return call<void>((d) => fs.fsync(this.fd, d));
  }
  close(): Promise<void> {
    return call<void>((d) => fs.close(this.fd, d));
  }
}

export const fsa = {
  open: (p: string, flags: string | number, mode?: number): Promise<AsyncHandle> => call<number>((d) => fs.open(p, flags, mode, d)).then((fd) => new AsyncHandle(fd)),
  readFile: ((p: string, encoding?: BufferEncoding) => call<string | Buffer>((d) => (encoding === undefined ? fs.readFile(p, d) : fs.readFile(p, encoding, d)))) as {
    (p: string): Promise<Buffer>;
    (p: string, encoding: BufferEncoding): Promise<string>;
  },
  writeFile: (p: string, data: string | Uint8Array, opts: fs.WriteFileOptions): Promise<void> => call<void>((d) => fs.writeFile(p, data, opts, d)),
  readdir: ((p: string, opts?: { withFileTypes: true }) =>
    call<string[] | fs.Dirent[]>((d) => (opts?.withFileTypes ? fs.readdir(p, { withFileTypes: true }, d) : fs.readdir(p, d)))) as {
    (p: string): Promise<string[]>;
    (p: string, opts: { withFileTypes: true }): Promise<fs.Dirent[]>;
  },
  lstat: (p: string): Promise<fs.Stats> => call<fs.Stats>((d) => fs.lstat(p, d)),
  stat: (p: string): Promise<fs.Stats> => call<fs.Stats>((d) => fs.stat(p, d)),
  readlink: (p: string): Promise<string> => call<string>((d) => fs.readlink(p, d)),
  mkdir: (p: string, opts: fs.MakeDirectoryOptions): Promise<string | undefined> => call<string | undefined>((d) => fs.mkdir(p, opts, d)),
  chmod: (p: string, mode: number): Promise<void> => call<void>((d) => fs.chmod(p, mode, d)),
  rename: (from: string, to: string): Promise<void> => call<void>((d) => fs.rename(from, to, d)),
  link: (existing: string, p: string): Promise<void> => call<void>((d) => fs.link(existing, p, d)),
  symlink: (target: string, p: string): Promise<void> => call<void>((d) => fs.symlink(target, p, d)),
  unlink: (p: string): Promise<void> => call<void>((d) => fs.unlink(p, d)),
  rm: (p: string, opts: fs.RmOptions): Promise<void> => call<void>((d) => fs.rm(p, opts, d)),
};
