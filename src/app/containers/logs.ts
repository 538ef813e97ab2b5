/** `atomic logs NAME [-f] [-n N]`: the unit's journal, through journalctl (its output goes straight to ours). */
import { spawn } from 'node:child_process';
import type { AppContext } from '../context.js';
import { containerPaths, currentSlot, containerNotInstalled } from '../../deploy/layout.js';
import { validateContainerName, unitName } from '../../deploy/container-name.js';
import { AtomicError } from '../../util/errors.js';

export async function containerLogs(ctx: AppContext, name: string, o: { follow?: boolean; lines?: number }): Promise<number> {
  validateContainerName(name);
  if (currentSlot(containerPaths(ctx.paths, name)) === null) {
    throw containerNotInstalled(name);
  }
  const args = ['--no-pager', ctx.paths.userMode ? '--user-unit' : '-u', unitName(name)];
  if (ctx.paths.sysroot !== '/') args.push(`--root=${ctx.paths.sysroot}`);
  if (o.lines !== undefined) args.push('-n', String(o.lines));
  if (o.follow) args.push('-f');
  return new Promise((resolve, reject) => {
    const c = spawn('journalctl', args, { stdio: ['ignore', 'inherit', 'inherit'] });
    c.on('error', (e) => reject(new AtomicError('NOT_FOUND', `cannot run journalctl: ${e.message}`, { suggestions: ['Install systemd\'s journalctl.'] })));
    c.on('close', (code, sig) => resolve(code ?? (sig ? 128 + (sig === 'SIGINT' ? 2 : 15) : 1)));
  });
}
