/**
 * The one precedence rule for a container's OCI runtime configuration, shared by deployments
 * (deploy/slot-config) and run-once containers (app/containers/run-once):
 *
 *   exports/config.json verbatim  >  exports/config.json.template rendered  >  generated default
 *
 * then, in user mode, atomic's user-namespace step (configureUserNamespace). Pure: the caller reads
 * the exports, the image configuration and the host's subordinate id ranges.
 */
import { AtomicError } from '../util/errors.js';
import { renderConfigJsonTemplate } from './render-files.js';
import { configureUserNamespace, type SubIdRange } from './config-json.js';

export interface RuntimeConfigInput {
  /** exports/config.json, when the image ships it (used verbatim). */
  verbatim: string | null;
  /** exports/config.json.template, when the image ships it. */
  template: string | null;
  /** How errors name the template (its path in the checkout). */
  templatePath: string;
  /** How errors name the verbatim file. */
  verbatimLabel: string;
  values: Record<string, string>;
  /** The generated default, built only when the image ships neither file. */
  generateDefault: () => Record<string, unknown>;
  /** User mode: the user namespace and id mappings (subordinate ranges of the calling user). */
  userNamespace?: { uid: number; gid: number; subuid: SubIdRange | null; subgid: SubIdRange | null };
}

export interface RuntimeConfig {
  config: Record<string, unknown>;
  /** The file's text: the verbatim file byte for byte when nothing changed it, else 4-space JSON. */
  text: string;
  source: 'verbatim' | 'template' | 'default';
}

export const configText = (config: unknown): string => JSON.stringify(config, null, 4) + '\n';

export function buildRuntimeConfig(inp: RuntimeConfigInput): RuntimeConfig {
  let r: RuntimeConfig;
  if (inp.verbatim !== null) {
    let config: unknown;
    try {
      config = JSON.parse(inp.verbatim);
    } catch {
      throw new AtomicError('IMAGE_INVALID', `Invalid json in configuration file: ${inp.verbatimLabel}.`, { suggestions: ['Fix /exports/config.json in the image.'] });
    }
    r = { config: config as Record<string, unknown>, text: inp.verbatim, source: 'verbatim' };
  } else if (inp.template !== null) {
    const config = renderConfigJsonTemplate(inp.template, inp.values, inp.templatePath);
    r = { config, text: configText(config), source: 'template' };
  } else {
    const config = inp.generateDefault();
    r = { config, text: configText(config), source: 'default' };
  }
  if (inp.userNamespace) {
    assertConfigObject(r.config, inp.verbatim !== null ? inp.verbatimLabel : inp.templatePath);
    const u = inp.userNamespace;
    const config = configureUserNamespace(r.config, u.uid, u.gid, u.subuid, u.subgid) as Record<string, unknown>;
    r = { ...r, config, text: configText(config) };
  }
  return r;
}

/** A config.json must be a JSON object at the top level (JSON.parse also accepts `[]`, `3`, `null`). */
export function assertConfigObject(config: unknown, what: string): Record<string, unknown> {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new AtomicError('IMAGE_INVALID', `Invalid configuration file of ${what}: the top level must be a JSON object`, {
      suggestions: ['Ship a JSON object in /exports/config.json or config.json.template.'],
    });
  }
  return config as Record<string, unknown>;
}
