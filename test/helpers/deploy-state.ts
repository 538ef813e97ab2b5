/**
 * Invariant checks for a system container inside a scratch sysroot: either NAME points at a
 * complete deployment whose host unit and tmpfiles equal the deployment's own copies, or the
 * container is entirely absent from the host.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseIniRecord, sameRecord, type OptionRecord } from '../../src/render/options.js';

export const CK = 'var/lib/containers/atomic';

export interface DeployState {
  kind: 'absent' | 'installed';
  slot?: string;
  problems: string[];
}

function read(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

export function deployState(sysroot: string, name: string): DeployState {
  const ck = path.join(sysroot, CK);
  const link = path.join(ck, name);
  const unit = path.join(sysroot, 'etc/systemd/system', `${name}.service`);
  const tmpf = path.join(sysroot, 'etc/tmpfiles.d', `${name}.conf`);
  const problems: string[] = [];
  let target: string | null = null;
  try {
    target = fs.readlinkSync(link);
  } catch {
    target = null;
  }
  if (target === null) {
    if (fs.existsSync(unit)) problems.push(`no ${name} link but ${unit} exists`);
    if (fs.existsSync(tmpf)) problems.push(`no ${name} link but ${tmpf} exists`);
    return { kind: 'absent', problems };
  }
  // the link holds the path as the target system sees it; resolve it below the sysroot
  const slot = path.join(ck, path.basename(target));
  const present = (p: string) => {
    try {
      fs.lstatSync(p); // a --rootfs deployment's rootfs is a link holding a target-system path
      return true;
    } catch {
      return false;
    }
  };
  for (const f of ['info', 'config.json', 'rootfs']) if (!present(path.join(slot, f))) problems.push(`${slot}/${f} missing`);
  let info: Record<string, unknown> = {};
  try {
    info = JSON.parse(read(path.join(slot, 'info')) ?? 'null') as Record<string, unknown>;
  } catch {
    problems.push(`${slot}/info is not JSON`);
  }
  try {
    JSON.parse(read(path.join(slot, 'config.json')) ?? '');
  } catch {
    problems.push(`${slot}/config.json is not JSON`);
  }
  if (info && info['has-container-service'] !== false) {
    if (read(unit) !== read(path.join(slot, `${name}.service`)) || read(unit) === null) problems.push(`host unit differs from ${slot}/${name}.service`);
  }
  if (read(tmpf) !== read(path.join(slot, `tmpfiles-${name}.conf`))) problems.push(`host tmpfiles differ from ${slot}/tmpfiles-${name}.conf`);
  problems.push(...optionRecordProblems(sysroot, name, slot));
  return { kind: 'installed', slot: path.basename(slot), problems };
}

/**
 * The option record goes with its slot (docs/options.md): when the deployed slot carries one
 * (options.json), the host file /etc/containers/atomic/NAME.conf holds the same record and every
 * unit file rendered from it (drop-in, timers) is on the host with the slot's text.
 */
function optionRecordProblems(sysroot: string, name: string, slot: string): string[] {
  const text = read(path.join(slot, 'options.json'));
  if (text === null) return [];
  const problems: string[] = [];
  let o: { record?: OptionRecord; files?: Record<string, string> };
  try {
    o = JSON.parse(text) as typeof o;
  } catch {
    return [`${slot}/options.json is not JSON`];
  }
  const record = o.record ?? {};
  const confPath = path.join(sysroot, 'etc/containers/atomic', `${name}.conf`);
  const conf = read(confPath);
  if (Object.keys(record).length > 0) {
    if (conf === null) problems.push(`${slot} has an option record but ${confPath} is missing`);
    else {
      let onHost: OptionRecord | null = null;
      try {
        onHost = parseIniRecord(conf, confPath);
      } catch (e) {
        problems.push(`${confPath} does not parse: ${(e as Error).message}`);
      }
      if (onHost !== null && !sameRecord(onHost, record)) problems.push(`${confPath} (${JSON.stringify(onHost)}) differs from the record of ${slot} (${JSON.stringify(record)})`);
    }
  }
  for (const [f, want] of Object.entries(o.files ?? {})) {
    const host = path.join(sysroot, 'etc/systemd/system', f);
    if (read(host) !== want) problems.push(`${host} differs from the unit file of ${slot}'s record`);
  }
  return problems;
}

/** Every path below `root` (relative, sorted), skipping the given relative prefixes. */
export function treeListing(root: string, skip: string[] = []): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(root, rel));
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (skip.some((s) => r === s || r.startsWith(`${s}/`))) continue;
      const st = fs.lstatSync(path.join(root, r));
      out.push(st.isDirectory() ? `${r}/` : st.isSymbolicLink() ? `${r} -> ${fs.readlinkSync(path.join(root, r))}` : r);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

/**
 * Every path below `root` with its inode, link count, mode, owner, size, mtime and ctime, link
 * target and a hash of its content, one line each (sorted): two snapshots are equal only when
 * nothing below `root` was created, removed, replaced, written, linked or chmod-ed (access times
 * are left out: reading is allowed).
 */
export function treeSnapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      let extra = '';
      if (st.isSymbolicLink()) extra = `-> ${fs.readlinkSync(p)}`;
      else if (st.isFile()) extra = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
      out.push(`${path.relative(root, p)} ino=${st.ino} nlink=${st.nlink} mode=${st.mode.toString(8)} ${st.uid}:${st.gid} size=${st.size} mtime=${st.mtimeMs} ctime=${st.ctimeMs} ${extra}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}
