/**
 * The one rule for system-container names, used by every command (install, update, rollback,
 * uninstall, stop, run, mount, label commands) and for names derived from image names.
 *
 * A name becomes: a directory entry (CK/NAME, CK/NAME.0, CK/NAME.1, our lock and journal files), a
 * systemd unit `NAME.service` (and `runc-NAME.scope` with --systemd-cgroup), a tmpfiles.d file and
 * the runtime's container id. So it must be valid for all of them at once:
 *  - runc ids: `^[\w+\-.]+$`; systemd unit names: `[A-Za-z0-9:_.\\-]` plus one `@` (templates).
 *    The intersection is `[A-Za-z0-9_.-]` (`@` is refused: runc rejects it at start, `+`/`:`
 *    are refused by one of the two).
 *  - it starts with a letter, digit or `_` (not `-`: an option; not `.`: a hidden entry, `.`/`..`);
 *  - at most 200 characters (`runc-NAME.scope`, `tmpfiles-NAME.conf`, `NAME.0.old` stay below 255);
 *  - it does not end in a unit-type suffix (`.service`, `.target`, `.socket`, ...): we always
 *    address `NAME.service`, and a name that reads like another unit is refused so that nobody
 *    mistakes it for that unit.
 * Names ending in `.0`/`.1` are allowed (atomic allowed them; `reg/app:1.0` gives `app-1.0`);
 * a real collision with another container's slot directories is refused at install
 * (see `slotCollision`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AtomicError } from '../util/errors.js';

export const MAX_CONTAINER_NAME = 200;

/** systemd unit types (systemd.unit(5)). */
export const UNIT_SUFFIXES = ['service', 'socket', 'device', 'mount', 'automount', 'swap', 'target', 'path', 'timer', 'slice', 'scope'];

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Why `name` is not a valid container name, or null when it is. */
export function containerNameProblem(name: string): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'the name is empty';
  if (name.length > MAX_CONTAINER_NAME) return `it is longer than ${MAX_CONTAINER_NAME} characters`;
  if (!NAME_RE.test(name)) {
    const bad = [...name].find((c, i) => !(i === 0 ? /[A-Za-z0-9_]/ : /[A-Za-z0-9_.-]/).test(c)) ?? name[0];
    return `it contains ${JSON.stringify(bad)}${name.indexOf(bad) === 0 ? ' at the start' : ''}; use letters, digits, '_', '.' and '-', starting with a letter, digit or '_'`;
  }
  const dot = name.lastIndexOf('.');
  if (dot > 0 && UNIT_SUFFIXES.includes(name.slice(dot + 1))) return `it ends in ".${name.slice(dot + 1)}", a systemd unit type`;
  return null;
}

export function isValidContainerName(name: string): boolean {
  return containerNameProblem(name) === null;
}

export function validateContainerName(name: string): void {
  const why = containerNameProblem(name);
  if (why === null) return;
  const shown = JSON.stringify(String(name).slice(0, 60)) + (String(name).length > 60 ? '...' : '');
  throw new AtomicError('USAGE', `invalid container name ${shown}: ${why}`, {
    suggestions: ['Pick a name with --name NAME (letters, digits, "_", "." and "-", at most 200 characters, not ending in a unit type such as .service or .target).'],
  });
}

/** The systemd unit of container `name`: always `NAME.service`, never the bare name. */
export function unitName(name: string): string {
  validateContainerName(name);
  return `${name}.service`;
}

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * A container N owns CK/N (its link) and CK/N.0, CK/N.1 (its slots). Installing `name` collides
 * with an existing container when `name` is one of that container's slots (`app.0` while `app` is
 * installed) or one of `name`'s slots is that container's link (`app` while `app.0` is installed).
 * Returns the colliding container's name, or null.
 */
export function slotCollision(checkoutRoot: string, name: string): string | null {
  const m = /^(.+)\.[01]$/.exec(name);
  if (m && isLink(path.join(checkoutRoot, m[1]!))) return m[1]!;
  for (const s of ['0', '1']) if (isLink(path.join(checkoutRoot, `${name}.${s}`))) return `${name}.${s}`;
  return null;
}
