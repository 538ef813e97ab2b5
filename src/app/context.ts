/**
 * Everything a use case needs from its environment: resolved paths, the store, and the
 * output sinks. Commands build one with `createContext`; app functions never print directly.
 */
import * as fs from 'node:fs';
import type { OstreeRepo } from '../store/repo.js';
import type { DeployContext, Output } from '../deploy/context.js';
import { resolveStorePaths, type PathInputs } from '../host/paths.js';
import { AtomicError } from '../util/errors.js';
import { writeFd } from '../util/fd-lines.js';

export type { Output } from '../deploy/context.js';
/** The use cases' context: the deployment layer's context (deploy/context.ts), built by `createContext`. */
export type AppContext = DeployContext;

export const consoleOutput: Output = {
  // write(2) while it works, else the streams (util/fd-lines.ts): creating process.stdout costs more
  // than a deploy command's own output
  line: (t) => writeFd(1, t + '\n'),
  warn: (t) => writeFd(2, t + '\n'),
  get isTTY() {
    return Boolean(process.stdout.isTTY);
  },
};

export function createContext(inp: PathInputs = {}, out: Output = consoleOutput): AppContext {
  const paths = resolveStorePaths(inp);
  let repo: OstreeRepo | undefined;
  return {
    paths,
    out,
    async repo() {
      if (!repo) {
        try {
          fs.mkdirSync(paths.checkoutRoot, { recursive: true });
        } catch (e) {
          throw new AtomicError('PERMISSION', `cannot create the checkout root "${paths.checkoutRoot}": ${(e as Error).message}`, {
            suggestions: ['Run as root, or set ATOMIC_OSTREE_CHECKOUT_PATH and ATOMIC_OSTREE_REPO to directories you own.'],
          });
        }
        const { OstreeRepo } = await import('../store/repo.js');
        repo = await OstreeRepo.openOrCreate(paths.repoPath, paths.repoMode);
      }
      return repo;
    },
    async repoIfExists() {
      if (repo) return repo;
      if (!fs.existsSync(`${paths.repoPath}/config`)) return null;
      const { OstreeRepo } = await import('../store/repo.js');
      repo = await OstreeRepo.open(paths.repoPath);
      return repo;
    },
  };
}
