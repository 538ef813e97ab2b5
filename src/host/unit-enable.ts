/**
 * `systemctl --root=ROOT enable NAME.service` done as the symlinks it creates, without starting
 * systemctl (~0.05 s, once per install). Deliberately narrow: whenever the outcome is not certain,
 * `planOfflineEnable` says null and the caller runs the real systemctl.
 *
 * What systemctl does (systemd.unit(5) [Install], install.c), for a unit file ROOT/etc/systemd/system/NAME.service
 * (the one systemctl finds: nothing of that name in a unit directory it searches first):
 * - `WantedBy=T` -> symlink ROOT/etc/systemd/system/T.wants/NAME.service; `RequiredBy=T` -> T.requires/;
 *   `Alias=A` -> ROOT/etc/systemd/system/A; each pointing to the absolute path /etc/systemd/system/NAME.service
 *   (root prefix removed); the .wants/.requires directories are created (0755 under our umask 022).
 * - Values are whitespace-separated lists that accumulate over lines; an empty assignment empties the list.
 * - A link that already exists with exactly that target is left; any other existing entry there is
 *   a conflict (systemctl fails or replaces): null.
 * - No [Install] settings: nothing is created (systemctl prints a notice and succeeds).
 *
 * Null (the real systemctl runs) for everything else: Also=, DefaultInstance=, UpheldBy= or an
 * unknown key, specifiers (`%`), quotes or escapes, template or instance names (`@`), line
 * continuations, CR/NUL/BOM, `.include`, drop-in directories of the unit in any unit directory (their
 * [Install] counts too), a unit of that name in system.control, transient or generator.early, a SysV
 * script of that name (systemctl enables both), $SYSTEMD_UNIT_PATH, a symlinked /etc/systemd/system.
 * `host/enable-verify.ts` checks once per systemctl binary that these rules give exactly what it does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface EnablePlan {
  /** Directories to create (absolute, below the root), in order. */
  dirs: string[];
  /** Symlinks to create: absolute path below the root -> target as systemctl writes it. */
  links: Array<{ path: string; target: string }>;
}

export interface InstallSection {
  wantedBy: string[];
  requiredBy: string[];
  alias: string[];
}

const CONFIG_DIR = 'etc/systemd/system';
/** The system unit search path of systemctl --root (systemd 252, lookup_paths_init), in order. */
export const SYSTEM_UNIT_DIRS = [
  'etc/systemd/system.control',
  'run/systemd/system.control',
  'run/systemd/transient',
  'run/systemd/generator.early',
  'etc/systemd/system',
  'etc/systemd/system.attached',
  'run/systemd/system',
  'run/systemd/system.attached',
  'run/systemd/generator',
  'usr/local/lib/systemd/system',
  'lib/systemd/system',
  'usr/lib/systemd/system',
  'run/systemd/generator.late',
];
/** Directories searched before /etc/systemd/system: a unit file of the same name there wins. */
const BEFORE_CONFIG = SYSTEM_UNIT_DIRS.slice(0, SYSTEM_UNIT_DIRS.indexOf(CONFIG_DIR));

/** A plain (non-template, non-instance) unit name without escapes. */
const PLAIN_UNIT = /^[A-Za-z0-9:_.-]+\.(service|socket|target|device|mount|automount|swap|path|timer|slice|scope)$/;
const WS = /^[ \t\n\r]+|[ \t\n\r]+$/g;

function plainUnit(n: string): boolean {
  return n.length <= 255 && PLAIN_UNIT.test(n);
}

/** Whether LINE ends in an unescaped backslash (a continuation for systemd's config parser). */
function continues(line: string): boolean {
  let escaped = false;
  for (const c of line) escaped = escaped ? false : c === '\\';
  return escaped;
}

/** The [Install] lists of a unit file's TEXT, or null when it uses anything we do not handle (module comment). */
export function parseInstallSection(text: string): InstallSection | null {
  if (/[\r\0]/.test(text) || text.startsWith('\uFEFF')) return null;
  const out: InstallSection = { wantedBy: [], requiredBy: [], alias: [] };
  const keys: Record<string, keyof InstallSection> = { WantedBy: 'wantedBy', RequiredBy: 'requiredBy', Alias: 'alias' };
  let section: string | null = null;
  for (const raw of text.split('\n')) {
    if (continues(raw)) return null;
    const l = raw.replace(WS, '');
    if (l === '' || l.startsWith('#') || l.startsWith(';')) continue;
    if (l.startsWith('.')) return null;
    if (l.startsWith('[')) {
      if (!l.endsWith(']')) return null;
      section = l.slice(1, -1);
      continue;
    }
    if (section !== 'Install') continue;
    const eq = l.indexOf('=');
    if (eq < 0) return null;
    const key = l.slice(0, eq).replace(WS, '');
    const value = l.slice(eq + 1).replace(WS, '');
    if (!Object.hasOwn(keys, key)) return null;
    if (value === '') {
      out[keys[key]] = [];
      continue;
    }
    for (const w of value.split(/[ \t\n\r]+/)) {
      if (!plainUnit(w)) return null;
      out[keys[key]].push(w);
    }
  }
  return out;
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw e;
  }
}

/** Drop-in directory names whose [Install] lines would count for UNIT (NAME.service.d, prefix `a-.service.d`, `service.d`). */
function dropInNames(unit: string): string[] {
  const dot = unit.lastIndexOf('.');
  const [stem, suffix] = [unit.slice(0, dot), unit.slice(dot)];
  const names = [`${unit}.d`, `${suffix.slice(1)}.d`];
  for (let i = stem.indexOf('-'); i >= 0; i = stem.indexOf('-', i + 1)) names.push(`${stem.slice(0, i + 1)}${suffix}.d`);
  return names;
}

/**
 * The directories and symlinks `systemctl --root=ROOT enable UNIT` would create for the unit file
 * ROOT/etc/systemd/system/UNIT, or null when we cannot be sure (then run systemctl).
 */
export function planOfflineEnable(root: string, unit: string, env: NodeJS.ProcessEnv = process.env): EnablePlan | null {
  if (!plainUnit(unit) || env.SYSTEMD_UNIT_PATH !== undefined) return null;
  try {
    return plan(root, unit);
  } catch {
    return null;
  }
}

function plan(root: string, unit: string): EnablePlan | null {
  // /etc, /etc/systemd and /etc/systemd/system are real directories (systemctl resolves symlinks inside the root)
  let cur = root;
  for (const c of CONFIG_DIR.split('/')) {
    cur = path.join(cur, c);
    if (!lstatOrNull(cur)?.isDirectory()) return null;
  }
  const config = cur;
  const unitFile = path.join(config, unit);
  if (!lstatOrNull(unitFile)?.isFile()) return null;
  for (const d of BEFORE_CONFIG) if (lstatOrNull(path.join(root, d, unit))) return null;
  const dropIns = dropInNames(unit);
  for (const d of SYSTEM_UNIT_DIRS) for (const n of dropIns) if (lstatOrNull(path.join(root, d, n))) return null;
  if (lstatOrNull(path.join(root, 'etc/init.d', unit.slice(0, -'.service'.length)))) return null;
  const inst = parseInstallSection(fs.readFileSync(unitFile, 'utf8'));
  if (!inst) return null;

  const target = `/${CONFIG_DIR}/${unit}`;
  const dirs: string[] = [];
  const links: EnablePlan['links'] = [];
  const wanted: string[] = [];
  for (const a of inst.alias) {
    if (a === unit || !a.endsWith('.service')) return null;
    wanted.push(path.join(config, a));
  }
  for (const [list, suffix] of [
    [inst.wantedBy, '.wants'],
    [inst.requiredBy, '.requires'],
  ] as const) {
    for (const t of list) {
      if (t === unit) return null;
      const dir = path.join(config, `${t}${suffix}`);
      const st = lstatOrNull(dir);
      if (st === null) {
        if (!dirs.includes(dir)) dirs.push(dir);
      } else if (!st.isDirectory()) return null;
      wanted.push(path.join(dir, unit));
    }
  }
  for (const p of new Set(wanted)) {
    const st = dirs.includes(path.dirname(p)) ? null : lstatOrNull(p);
    if (st === null) links.push({ path: p, target });
    else if (!st.isSymbolicLink() || fs.readlinkSync(p) !== target) return null;
  }
  return { dirs, links };
}

/** Create what PLAN says (directories 0755 under the process umask, then the symlinks). Throws on any error. */
export function applyEnablePlan(plan: EnablePlan): void {
  for (const d of plan.dirs) fs.mkdirSync(d, { mode: 0o755 });
  for (const l of plan.links) fs.symlinkSync(l.target, l.path);
}
