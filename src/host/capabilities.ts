/**
 * The running kernel's highest capability number (/proc/sys/kernel/cap_last_cap), which atomic read
 * to build ALL_PROCESS_CAPABILITIES (util.get_all_known_process_capabilities): 40 on kernels with
 * CAP_PERFMON, CAP_BPF and CAP_CHECKPOINT_RESTORE. undefined when unreadable (then atomic's 38 names).
 */
import * as fs from 'node:fs';
import { atomicEnv } from '../util/env.js';

export const CAP_LAST_CAP_FILE = '/proc/sys/kernel/cap_last_cap';

export function kernelCapLastCap(file = atomicEnv('ATOMIC_CAP_LAST_CAP_FILE') ?? CAP_LAST_CAP_FILE): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n >= 0 && n < 1024 ? n : undefined;
  } catch {
    return undefined;
  }
}
