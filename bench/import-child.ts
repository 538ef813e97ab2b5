/**
 * One import + checkout of a layer tar by our store code, in its own process so that GNU time
 * measures its peak RSS alone: node dist/bench/import-child.js TAR WORKDIR. Same durability as
 * `ostree commit` (the transaction syncs the filesystem before objects are linked in and the ref
 * moves). Prints {"importS":…, "checkoutS":…, "storeWorkers":…}. V8 runs with the settings of `atomic pull`, the
 * command that imports layers (cli/lean-heap.ts; ATOMIC_V8_DEFAULTS=1 keeps V8's defaults).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OstreeRepo } from '../src/store/repo.js';
import { importLayerTar } from '../src/store/layer-import.js';
import { checkoutLayers } from '../src/store/checkout.js';
import type { Checksum } from '../src/store/types.js';
import { useLeanHeap } from '../src/cli/lean-heap.js';
import { writePool } from '../src/store/write-pool.js';

useLeanHeap();

const [tar, work] = process.argv.slice(2);
const repo = await OstreeRepo.openOrCreate(path.join(work, 'repo-ours'), 'bare');
let t = process.hrtime.bigint();
const tx = await repo.beginTransaction();
const r = await importLayerTar(tx, fs.createReadStream(tar, { highWaterMark: 1024 * 1024 }), { onWarning: () => undefined });
const commit = await tx.writeCommit({ metadata: [], parent: null, related: [], subject: '', body: '', timestamp: Math.floor(Date.now() / 1000), rootTree: r.rootTree, rootMeta: r.rootMeta });
tx.setRef('bench', commit);
await tx.commit();
const importS = Number(process.hrtime.bigint() - t) / 1e9;
t = process.hrtime.bigint();
await checkoutLayers(repo, [commit as Checksum], path.join(work, 'co-ours'));
const checkoutS = Number(process.hrtime.bigint() - t) / 1e9;
// the store's own choice of I/O workers (write-pool.ts autoPoolSize, or $ATOMIC_STORE_WORKERS)
process.stdout.write(JSON.stringify({ importS, checkoutS, commit, storeWorkers: writePool().parallelism }) + '\n');
