/**
 * A deployment's config.json, in named steps: the one precedence rule shared with run-once
 * (render/runtime-config.ts: the image's /exports/config.json verbatim, else config.json.template
 * rendered, else a default from the image config; then the user namespace in --user mode), then
 * the deployment's adjustments in this order: the --rootfs path, the --init binary, the option
 * record; finally the runtime-config checks. Reads the host, writes nothing.
 */
import * as fs from 'node:fs';
import type { DeployContext } from './context.js';
import { buildRuntimeConfig, configText as text } from '../render/runtime-config.js';
import { generateDefaultConfig, validateRuntimeConfig } from '../render/config-json.js';
import { hostSubIds } from '../host/sub-ids.js';
import { withInit } from '../render/init-process.js';
import { applyOptionsToConfig, type OptionRecord } from '../render/options.js';
import { cgroupSupport } from '../host/cgroups.js';
import { underRoot, hostView } from '../host/sysroot.js';
import { AtomicError } from '../util/errors.js';

type Config = Record<string, unknown>;

export interface ConfigSources {
  /** /exports/config.json (used verbatim), or null. */
  verbatim: string | null;
  /** /exports/config.json.template, or null. */
  template: string | null;
  /** Where the template is, for messages. */
  templatePath: string;
  /** The image config's `config` object for the generated default (read only when needed). */
  imageConfig: () => Promise<Config | null>;
}

export interface SlotConfigInput {
  name: string;
  /** The slot's config.json, for messages. */
  file: string;
  values: Record<string, string>;
  /** The --rootfs rootfs (null: a checkout). */
  remoteRootfs: string | null;
  record: OptionRecord;
  uid: number;
  gid: number;
}

export interface SlotConfig {
  configText: string;
  /** Bind-mount sources that do not exist on the host (tmpfiles.d creates them). */
  missingBindSources: string[];
}

/** Render and check config.json (see the module comment for the order of the steps). */
export async function renderSlotConfig(ctx: DeployContext, src: ConfigSources, inp: SlotConfigInput): Promise<SlotConfig> {
  // (a --rootfs deployment too takes its defaults from the image's config)
  const imageConfig = src.verbatim === null && src.template === null ? await src.imageConfig() : null;
  const userMode = ctx.paths.userMode;
  const base = buildRuntimeConfig({
    verbatim: src.verbatim,
    template: src.template,
    templatePath: src.templatePath,
    verbatimLabel: inp.file,
    values: inp.values,
    generateDefault: () => generateDefaultConfig(imageConfig as never, { userMode, hostname: inp.name }) as Config,
    userNamespace: userMode ? { uid: inp.uid, gid: inp.gid, ...hostSubIds(process.env.USER ?? String(inp.uid), inp.uid) } : undefined,
  });
  let config = base.config;
  let configText = base.text;
  const adjust = (c: Config): void => {
    config = c;
    configText = text(c);
  };
  // atomic rewrote root.path to the absolute remote rootfs (§2.12 step 13)
  if (inp.remoteRootfs) adjust({ ...config, root: { ...((config.root as Config) ?? {}), path: hostView(ctx.paths.sysroot, inp.remoteRootfs) } });
  if (inp.values.ATOMIC_INIT) adjust(withInitBinary(ctx, config, inp.values.ATOMIC_INIT));
  if (Object.keys(inp.record).length > 0) adjust(withOptionRecord(ctx, config, inp.record, inp.name));
  const { missingBindSources } = validateRuntimeConfig(config, {
    remote: inp.remoteRootfs !== null,
    file: inp.file,
    exists: (p: string) => fs.existsSync(underRoot(ctx.paths.sysroot, p)),
  });
  return { configText, missingBindSources };
}

/** --init: the host's init binary as PID 1 (render/init-process.ts). */
function withInitBinary(ctx: DeployContext, config: Config, init: string): Config {
  if (!fs.existsSync(underRoot(ctx.paths.sysroot, init))) {
    throw new AtomicError('NOT_FOUND', `--init: the init binary ${init} does not exist on the host`, {
      suggestions: ['Install it (apt-get install catatonit), or drop --init with --set ATOMIC_INIT='],
    });
  }
  return withInit(config, init);
}

/**
 * The option record, applied after the image's templates (which stay as they are). A limit the
 * host cannot enforce is left to the unit (systemd ignores it there), as docker discards it with a
 * warning: runc would refuse to start the container.
 */
function withOptionRecord(ctx: DeployContext, config: Config, record: OptionRecord, name: string): Config {
  const support = ctx.paths.sysroot === '/' ? cgroupSupport() : { memory: true, cpu: true, detail: '' };
  for (const [key, ok, ctl] of [
    ['MaxMemory', support.memory, 'memory'],
    ['cpu', support.cpu, 'cpu'],
  ] as const) {
    if (record[key] !== undefined && !ok)
      ctx.out.warn(`Warning: ${key}=${record[key]} is recorded but this host cannot enforce it: no ${ctl} cgroup controller (${support.detail}); config.json gets no ${ctl} limit`);
  }
  return applyOptionsToConfig(config, record, { name, enforce: support });
}
