/**
 * One checkout by our store code in a fresh process, as `atomic install` makes it: node
 * dist/bench/checkout-child.js REPO COMMIT DEST. V8 runs with its defaults (install's settings;
 * only `pull` uses cli/lean-heap.ts) and the store's I/O workers are not running (a checkout
 * does not start them). Prints {"checkoutS": …}: seconds in this process, from the call to its
 * result (node's own start-up and the loading of our modules are not counted: the start-up
 * figures measure those).
 */
import * as path from 'node:path';
import { OstreeRepo } from '../src/store/repo.js';
import { checkoutLayers } from '../src/store/checkout.js';
import type { Checksum } from '../src/store/types.js';

const [repoPath, commit, dest] = process.argv.slice(2);
if (!repoPath || !commit || !dest) throw new Error('usage: checkout-child.js REPO COMMIT DEST');
const repo = await OstreeRepo.open(path.resolve(repoPath));
const t = process.hrtime.bigint();
await checkoutLayers(repo, [commit as Checksum], dest);
const checkoutS = Number(process.hrtime.bigint() - t) / 1e9;
process.stdout.write(JSON.stringify({ checkoutS }) + '\n');
