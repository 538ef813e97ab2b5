/**
 * Which resource controllers this host can apply to a container's cgroup. On a unified (v2)
 * hierarchy the root's cgroup.controllers lists them; on a v1/hybrid host each is a mounted
 * hierarchy. A kernel that binds a controller to v1 while systemd runs unified (as inside some
 * nspawn containers) cannot enforce it: runc would refuse to start a container that asks for it.
 */
import * as fs from 'node:fs';
import { atomicEnv } from '../util/env.js';

export interface CgroupSupport {
  memory: boolean;
  cpu: boolean;
  /** How it was found, for messages. */
  detail: string;
}

export function cgroupSupport(root = atomicEnv('ATOMIC_CGROUP_ROOT') ?? '/sys/fs/cgroup'): CgroupSupport {
  try {
    const list = fs.readFileSync(`${root}/cgroup.controllers`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return { memory: list.includes('memory'), cpu: list.includes('cpu'), detail: `${root}/cgroup.controllers lists: ${list.join(' ') || '(nothing)'}` };
  } catch {
    /* not unified */
  }
  const has = (c: string) => fs.existsSync(`${root}/${c}`);
  return { memory: has('memory'), cpu: has('cpu') || has('cpu,cpuacct'), detail: `cgroup v1 hierarchies under ${root}` };
}
