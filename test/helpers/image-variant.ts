/**
 * Test images made from the systest fixture with umoci (a real producer, not our code): unpack
 * DIR/oci:systest, change the rootfs, repack as DIR/oci:TAG. Shared by the system tests of the
 * health gate, auto-update and sd_notify.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { sh, type Run } from './system.js';

/** R's stdout; fails the test with its output when it did not exit 0. */
export function ok(r: Run, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A variant of DIR/oci:systest: `edit` changes the unpacked rootfs, the result is tagged TAG in DIR/oci. */
export function umociVariant(dir: string, tag: string, edit: (rootfs: string) => void): void {
  const b = `${dir}/b-${tag}`;
  fs.rmSync(b, { recursive: true, force: true });
  ok(sh('umoci', ['unpack', '--image', `${dir}/oci:systest`, b]), `umoci unpack ${tag}`);
  edit(`${b}/rootfs`);
  ok(sh('umoci', ['repack', '--image', `${dir}/oci:${tag}`, b]), `umoci repack ${tag}`);
}

/** Set /exports/manifest.json's healthCheck in ROOTFS. */
export function setManifestHealth(rootfs: string, health: unknown): void {
  const f = `${rootfs}/exports/manifest.json`;
  const m = JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
  m.healthCheck = health;
  fs.writeFileSync(f, JSON.stringify(m, null, '\t') + '\n');
}

/** Make the systest service answer "from systest LABEL" instead of "from systest 1.0". */
export function relabel(rootfs: string, label: string): void {
  const f = `${rootfs}/usr/bin/run.sh`;
  fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace(/from systest 1\.0/g, `from systest ${label}`));
}

export interface QuarantineEntry {
  digest: string;
  image: string;
}

/** The quarantine record of container NAME (CK/.atomic/quarantine/NAME.json); empty when there is none. */
export function quarantineEntries(ck: string, name: string): QuarantineEntry[] {
  try {
    return (JSON.parse(fs.readFileSync(`${ck}/.atomic/quarantine/${name}.json`, 'utf8')) as { quarantined: QuarantineEntry[] }).quarantined;
  } catch {
    return [];
  }
}
