/**
 * A sysroot in a temp directory with a DeployContext over a RecordingHost, and complete slots
 * written by hand: enough for the deployment layer's journal, activation, uninstall and recovery
 * without a store, systemd or a runtime (test/unit/deploy).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { containerPaths, type ContainerPaths, type Slot } from '../../src/deploy/layout.js';
import type { DeployContext } from '../../src/deploy/context.js';
import type { StorePaths } from '../../src/host/paths.js';
import { RecordingHost } from './recording-host.js';

export const UNIT = '[Unit]\nDescription=demo\n[Service]\nExecStart=/bin/true\n';

export interface DeploySandbox {
  ctx: DeployContext;
  host: RecordingHost;
  /** The container `demo`. */
  cp: ContainerPaths;
  lines: string[];
  warnings: string[];
  /** Write a complete slot: info (with `values`), rootfs, its own copy of the unit (and tmpfiles when given). */
  slot(s: Slot, unit?: string, tmpfiles?: string, values?: Record<string, string>): void;
  /** Make `s` the live deployment: NAME → NAME.s and the host unit (and tmpfiles) copied from it. */
  live(s: Slot): void;
}

export function deploySandbox(dir: string): DeploySandbox {
  const root = path.join(dir, 'sysroot');
  const paths: StorePaths = {
    sysroot: root,
    userMode: false,
    repoPath: path.join(root, 'repo'),
    repoMode: 'bare',
    checkoutRoot: path.join(root, 'var/lib/containers/atomic'),
    preinstalledRoot: path.join(root, 'usr/lib/containers/atomic'),
    unitDir: path.join(root, 'etc/systemd/system'),
    tmpfilesDir: path.join(root, 'etc/tmpfiles.d'),
    conf: {},
  };
  for (const d of [paths.checkoutRoot, paths.unitDir, paths.tmpfilesDir]) fs.mkdirSync(d, { recursive: true });
  const host = new RecordingHost();
  const lines: string[] = [];
  const warnings: string[] = [];
  const ctx: DeployContext = {
    paths,
    out: { line: (t) => lines.push(t), warn: (t) => warnings.push(t), isTTY: false },
    repo: () => Promise.reject(new Error('no store needed')),
    repoIfExists: () => Promise.resolve(null),
    host,
  };
  const cp = containerPaths(paths, 'demo');
  // a start runs the deployment NAME points at (every start follows the switch and its reload)
  host.startedBundle = () => {
    try {
      return fs.readlinkSync(cp.link);
    } catch {
      return null;
    }
  };
  const slot = (s: Slot, unit = UNIT, tmpfiles?: string, values: Record<string, string> = {}): void => {
    const d = cp.slotDir(s);
    fs.mkdirSync(path.join(d, 'rootfs'), { recursive: true });
    const info = {
      image: 'demo:latest',
      revision: `r${s}`,
      'ostree-commit': 'c'.repeat(64),
      created: 1,
      values,
      'has-container-service': true,
      'installed-files': [],
      'installed-files-checksum': {},
      'installed-files-template': [],
      'rename-installed-files': {},
      'rpm-installed': null,
      'system-package': 'no',
      remote: null,
      'use-links': true,
      runtime: '/usr/bin/runc',
    };
    fs.writeFileSync(path.join(d, 'info'), JSON.stringify(info, null, 4) + '\n');
    fs.writeFileSync(path.join(d, 'demo.service'), unit);
    if (tmpfiles !== undefined) fs.writeFileSync(path.join(d, 'tmpfiles-demo.conf'), tmpfiles);
  };
  const live = (s: Slot): void => {
    fs.rmSync(cp.link, { force: true });
    fs.symlinkSync(`/var/lib/containers/atomic/demo.${s}`, cp.link);
    fs.copyFileSync(path.join(cp.slotDir(s), 'demo.service'), cp.hostUnit);
    const tmp = path.join(cp.slotDir(s), 'tmpfiles-demo.conf');
    if (fs.existsSync(tmp)) fs.copyFileSync(tmp, cp.hostTmpfiles);
  };
  return { ctx, host, cp, lines, warnings, slot, live };
}
