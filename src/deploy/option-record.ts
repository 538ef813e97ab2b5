/**
 * Option records on disk (docs/options.md):
 * - the declarative host file /etc/containers/atomic/NAME.conf (INI; user mode:
 *   ~/.config/containers/atomic/NAME.conf), read at install/update, rewritten (atomically) when
 *   `config` or a rollback changes the record;
 * - each deployment's own copy, CK/NAME.N/options.json: the record it was rendered with and the
 *   unit files rendered from it (the NAME.service.d/50-atomic-options.conf drop-in, StartAt/StopAt
 *   timers), so a rollback restores the previous record with its slot;
 * - activation: the target slot's unit files are put in place (the other slot's removed), timers
 *   enabled, status applied.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { StorePaths } from '../host/paths.js';
import { underRoot } from '../host/sysroot.js';
import { atomicWrite } from '../util/atomic-write.js';
import { AtomicError } from '../util/errors.js';
import { parseIniRecord, validateOptionRecord, formatIniRecord, sameRecord, type OptionRecord } from '../render/options.js';
import { writeDurable, removeDurable, writeStaged } from './slot-files.js';
import type { ContainerPaths } from './layout.js';
import { atomicEnv } from '../util/env.js';

export const SLOT_OPTIONS_FILE = 'options.json';
export const DROP_IN_NAME = '50-atomic-options.conf';

/** What a deployment keeps of its record: the record and the unit files (relative to the unit dir) rendered from it. */
export interface SlotOptions {
  record: OptionRecord;
  files: Record<string, string>;
}

export function optionsConfDir(paths: StorePaths): string {
  if (paths.userMode) return path.join(process.env.XDG_CONFIG_HOME || path.join(process.env.HOME ?? os.homedir(), '.config'), 'containers', 'atomic');
  return underRoot(paths.sysroot, '/etc/containers/atomic');
}

export function hostConfPath(paths: StorePaths, name: string): string {
  return path.join(optionsConfDir(paths), `${name}.conf`);
}

/** A record file is a few lines; anything bigger is not one (a log, /dev/zero behind a symlink). */
export const MAX_HOST_CONF = 64 * 1024;

/**
 * The text of a host record file, or null when there is none. It must be a regular file (a
 * symlink to one is followed: the directory is the admin's) of at most MAX_HOST_CONF bytes, in
 * UTF-8 without NUL bytes; anything else is refused naming the file (docs/security.md).
 */
export function readHostConfText(file: string): string | null {
  const bad = (why: string, suggestion: string): AtomicError => new AtomicError('USAGE', `${file}: ${why}`, { suggestions: [suggestion], ref: file });
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AtomicError('IO', `cannot read ${file}: ${(e as Error).message}`, { suggestions: [`Check the permissions of ${file}.`], ref: file });
  }
  let buf: Buffer;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile())
      throw bad('is not a regular file (a device, FIFO, socket or directory cannot be an option record)', `Replace ${file} by a file of KEY=VALUE lines, or remove it.`);
    if (st.size > MAX_HOST_CONF)
      throw bad(`is ${st.size} bytes; an option record is at most ${MAX_HOST_CONF} bytes`, `Check that ${file} is the option record you meant (KEY=VALUE lines), or remove it.`);
    buf = Buffer.alloc(MAX_HOST_CONF + 1);
    let n = 0;
    for (let r; n < buf.length && (r = fs.readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
    if (n > MAX_HOST_CONF) throw bad(`is larger than ${MAX_HOST_CONF} bytes (it grew while read)`, `Check ${file}.`);
    buf = buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
  const nul = buf.indexOf(0);
  if (nul >= 0) {
    const line = buf.subarray(0, nul).toString('latin1').split('\n').length;
    throw bad(
      `line ${line} contains a NUL byte; an option record is text`,
      `Rewrite ${file} as KEY=VALUE text lines (atomic containers config ${path.basename(file, '.conf')} KEY=VALUE writes it for you).`,
    );
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw bad('is not valid UTF-8', `Rewrite ${file} in UTF-8 (KEY=VALUE lines).`);
  }
}

/** The host file's record (validated), or null when there is no file. */
export function readHostConf(paths: StorePaths, name: string): OptionRecord | null {
  const file = hostConfPath(paths, name);
  const text = readHostConfText(file);
  if (text === null) return null;
  const record = parseIniRecord(text, file);
  validateOptionRecord(record, file);
  return record;
}

/** Write the host file (atomically) unless it already holds RECORD; an empty record removes it. */
export async function writeHostConf(paths: StorePaths, name: string, record: OptionRecord): Promise<boolean> {
  const file = hostConfPath(paths, name);
  let current: OptionRecord | null = null;
  try {
    current = readHostConf(paths, name);
  } catch {
    current = null; // an invalid hand-written file is replaced by the record that is deployed
  }
  if (current !== null && sameRecord(current, record)) return false;
  if (Object.keys(record).length === 0) {
    if (current === null || Object.keys(current).length === 0) return false;
    return removeDurable(file);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await atomicWrite(file, formatIniRecord(name, record), { mode: 0o644 });
  return true;
}

export function readSlotOptions(slotDir: string): SlotOptions | null {
  try {
    const o = JSON.parse(fs.readFileSync(path.join(slotDir, SLOT_OPTIONS_FILE), 'utf8')) as SlotOptions;
    return { record: o.record ?? {}, files: o.files ?? {} };
  } catch {
    return null;
  }
}

/** The option record of a slot being staged (deploy/slot-files.ts writeStaged: made durable with the whole slot). */
export function stageSlotOptions(stageDir: string, o: SlotOptions): void {
  writeStaged(path.join(stageDir, SLOT_OPTIONS_FILE), JSON.stringify(o, null, 4) + '\n', 0o644);
}

function systemctl(paths: StorePaths, args: string[], echo: (l: string) => void, ignoreErrors = true): boolean {
  const bin = atomicEnv('ATOMIC_SYSTEMCTL') ?? 'systemctl';
  const a = [...(paths.userMode ? ['--user'] : []), ...(paths.sysroot !== '/' ? [`--root=${paths.sysroot}`] : []), ...args];
  echo(['systemctl', ...a].join(' '));
  const r = spawnSync(bin, a, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status === 0 || ignoreErrors) return r.status === 0;
  throw new AtomicError('IO', `systemctl ${a.join(' ')} failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
}

const timerNames = (files: Record<string, string>): string[] => Object.keys(files).filter((f) => f.endsWith('.timer'));

/** The texts atomic wrote for unit file REL (relative to the unit dir) in either slot of the container. */
function slotTexts(cp: ContainerPaths, rel: string): string[] {
  const out: string[] = [];
  for (const s of [0, 1] as const) {
    const t = readSlotOptions(cp.slotDir(s))?.files[rel];
    if (typeof t === 'string') out.push(t);
  }
  return out;
}

/** absent, ours (a regular file holding one of TEXTS) or foreign (anything else: edited, hand-written, a symlink, a directory). */
function optionFileOwnership(file: string, texts: string[]): 'absent' | 'ours' | 'foreign' {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return 'absent';
  }
  if (!st.isFile()) return 'foreign';
  try {
    const text = fs.readFileSync(file, 'utf8');
    return texts.includes(text) ? 'ours' : 'foreign';
  } catch {
    return 'foreign';
  }
}

/**
 * Before a deployment is written (docs/security.md): every unit file the record renders (the
 * drop-in NAME.service.d/50-atomic-options.conf, atomic-start-NAME.timer, atomic-stop-NAME.*)
 * must be absent or exactly what atomic wrote for this container, and no directory between the
 * unit directory and it may be a symlink: atomic never overwrites an admin's unit, never unmasks
 * a masked one (a symlink to /dev/null) and never writes through a symlinked NAME.service.d.
 */
export function checkOptionFilesPlaceable(paths: StorePaths, cp: ContainerPaths, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(paths.unitDir, rel);
    for (let d = path.dirname(file); d.startsWith(paths.unitDir + path.sep); d = path.dirname(d)) {
      let st: fs.Stats | null = null;
      try {
        st = fs.lstatSync(d);
      } catch {
        /* absent: created by the activation */
      }
      if (st !== null && !st.isDirectory()) {
        throw new AtomicError(
          'UNSAFE_PATH',
          `${d} is ${st.isSymbolicLink() ? `a symlink (to ${fs.readlinkSync(d)})` : 'not a directory'}; atomic will not write ${path.basename(file)} of ${cp.name}'s option record through it`,
          {
            suggestions: [`Replace ${d} by a plain directory (or remove it), or drop the option keys that need ${rel}.`],
            ref: d,
          },
        );
      }
    }
    if (optionFileOwnership(file, [...slotTexts(cp, rel), text]) === 'foreign') {
      const st = fs.lstatSync(file);
      const what = st.isSymbolicLink()
        ? `is a symlink (to ${fs.readlinkSync(file)}${fs.readlinkSync(file) === '/dev/null' ? ': the unit is masked' : ''})`
        : 'exists and was not written by atomic (or was edited by hand)';
      throw new AtomicError(st.isSymbolicLink() ? 'UNSAFE_PATH' : 'USAGE', `${file} ${what}; the option record of ${cp.name} needs that file, and atomic will not replace it`, {
        suggestions: [
          `Remove ${file} if it is not needed (put your own settings in another file, e.g. ${path.join(path.dirname(file), '60-local.conf')}), or drop the option keys that need it.`,
        ],
        ref: file,
      });
    }
  }
}

/**
 * Host side, before the daemon-reload of an activation: the unit files of the target slot's record
 * replace those of the other slot (timers the target does not have are stopped and disabled
 * first); the host record file follows the deployed record.
 */
export async function placeOptionFiles(paths: StorePaths, cp: ContainerPaths, target: SlotOptions | null, other: SlotOptions | null, echo: (l: string) => void): Promise<void> {
  const want = target?.files ?? {};
  for (const f of Object.keys(other?.files ?? {})) {
    if (f in want) continue;
    // only what atomic wrote goes: an admin's file (or symlink) of the same name stays
    const texts = [...slotTexts(cp, f), ...(other?.files[f] ? [other.files[f]] : [])];
    const own = optionFileOwnership(path.join(paths.unitDir, f), texts);
    if (own === 'foreign') {
      echo(`Will not delete ${path.join(paths.unitDir, f)}: it was not written by atomic`);
      continue;
    }
    if (f.endsWith('.timer')) {
      if (paths.sysroot === '/') systemctl(paths, ['disable', '--now', f], echo);
      else systemctl(paths, ['disable', f], echo);
    }
    await removeDurable(path.join(paths.unitDir, f));
    const dir = path.dirname(path.join(paths.unitDir, f));
    if (dir !== paths.unitDir) {
      try {
        fs.rmdirSync(dir); // NAME.service.d, when nothing else is in it
      } catch {
        /* not empty (an admin's own drop-in) or absent */
      }
    }
  }
  for (const [f, text] of Object.entries(want)) await writeDurable(path.join(paths.unitDir, f), text);
  if (target !== null) await writeHostConf(paths, cp.name, target.record);
}

/** After the daemon-reload: timers enabled (and started when online). */
export function enableOptionTimers(paths: StorePaths, target: SlotOptions | null, echo: (l: string) => void): void {
  for (const t of timerNames(target?.files ?? {})) {
    if (paths.sysroot === '/') systemctl(paths, ['enable', '--now', t], echo, false);
    else systemctl(paths, ['enable', t], echo, false);
  }
}

/** Uninstall: every unit file of either slot's record, and the host record file. */
export async function removeOptionFiles(paths: StorePaths, cp: ContainerPaths, echo: (l: string) => void): Promise<void> {
  const files = new Set<string>();
  for (const s of [0, 1] as const) for (const f of Object.keys(readSlotOptions(cp.slotDir(s))?.files ?? {})) files.add(f);
  await placeOptionFiles(paths, cp, null, { record: {}, files: Object.fromEntries([...files].map((f) => [f, ''])) }, echo);
  // the host record file goes only when it is exactly what atomic wrote (a hand-written one stays)
  const conf = hostConfPath(paths, cp.name);
  try {
    const text = fs.readFileSync(conf, 'utf8');
    if (text === formatIniRecord(cp.name, parseIniRecord(text, conf))) await removeDurable(conf);
    else echo(`Will not delete ${conf}: it was not written by atomic`);
  } catch {
    /* absent or unreadable: left alone */
  }
}
