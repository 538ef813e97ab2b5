/**
 * Tar building for tests: whole archives written by tar-stream (`tarOf`), and raw header blocks
 * built by hand (`rawHeader`, `paxBody`, `padded`, `TAR_END`) for what no tar writer produces
 * (bad checksums, base-256 sizes, odd typeflags, malformed PAX records).
 */
import * as tar from 'tar-stream';

/** A tar-stream header; `pax` adds PAX records to the entry. */
export type TarHeader = Partial<tar.Header> & { name: string; pax?: Record<string, string> };

export interface TarOptions {
  /** Header fields every entry gets unless it sets them (mtime is the epoch unless set here or there). */
  defaults?: Partial<tar.Header>;
  /** Leave out the end-of-archive blocks (two zero blocks). */
  noEof?: boolean;
}

/**
 * An uncompressed tar of `entries` ([header, data]), written by tar-stream. tar-stream's own
 * defaults apply to what is unset (mode 0755 for directories, 0644 otherwise; uid/gid 0).
 */
export async function tarOf(entries: Array<[TarHeader, (Buffer | string)?]>, opts: TarOptions = {}): Promise<Buffer> {
  const p = tar.pack();
  for (const [h, data] of entries) p.entry({ mtime: new Date(0), ...opts.defaults, ...h } as tar.Header, Buffer.from(data ?? ''));
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p) parts.push(c as Buffer);
  const all = Buffer.concat(parts);
  return opts.noEof ? all.subarray(0, all.length - 1024) : all;
}

export interface RawHeader {
  name: string;
  /** Typeflag character (default '0'). */
  type?: string;
  size?: number;
  linkname?: string;
  /** The ustar prefix field. */
  prefix?: string;
  /** Write the size in GNU base-256. */
  base256?: boolean;
  /** Store a checksum one too high. */
  badSum?: boolean;
}

/** The checksum of `b` written into its field (the field itself read as spaces). */
export function fixChecksum(b: Buffer, offBy = 0): Buffer {
  b.fill(32, 148, 156);
  let sum = offBy;
  for (let i = 0; i < 512; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

/** A POSIX ustar header block (mode 0644, owner 0:0, mtime 0) built by hand. */
export function rawHeader(h: RawHeader): Buffer {
  const b = Buffer.alloc(512);
  b.write(h.name, 0, 100, 'utf8');
  b.write('0000644\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  const size = h.size ?? 0;
  if (h.base256) {
    b[124] = 0x80;
    b.writeUIntBE(size, 124 + 12 - 6, 6);
  } else {
    b.write(size.toString(8).padStart(11, '0') + '\0', 124);
  }
  b.write('00000000000\0', 136);
  b.write(h.type ?? '0', 156, 'latin1');
  b.write(h.linkname ?? '', 157, 100);
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  if (h.prefix) b.write(h.prefix, 345, 155);
  return fixChecksum(b, h.badSum ? 1 : 0);
}

/** `content` padded with zeros to a whole number of blocks. */
export function padded(content: Buffer | string): Buffer {
  const c = Buffer.from(content);
  return Buffer.concat([c, Buffer.alloc((512 - (c.length % 512)) % 512)]);
}

/** The body of a PAX extended header: "LEN key=value\n" records. */
export function paxBody(records: Record<string, string>): Buffer {
  let out = '';
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    out += `${len}${body}`;
  }
  return Buffer.from(out);
}

/** The end-of-archive marker: two zero blocks. */
export const TAR_END = Buffer.alloc(1024);
