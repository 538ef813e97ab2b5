/**
 * What the deployment layer needs from its caller: resolved paths, the store, the output sinks
 * and the signature-policy settings. The app layer's `AppContext` is this same shape
 * (`app/context.ts` builds it), so use cases hand their context straight down.
 */
import type { OstreeRepo } from '../store/repo.js';
import type { StorePaths } from '../host/paths.js';
import type { TrustSettings } from '../image/trust/policy.js';
import * as path from 'node:path';
import { realHost, type HostPort } from '../host/host-port.js';
import { STATE_DIR } from './layout.js';

export interface Output {
  /** An informational line for stdout ("Extracting to ...", echoed systemctl commands). */
  line(text: string): void;
  /** A warning line for stderr. */
  warn(text: string): void;
  /** Whether stdout is a terminal (progress bars). */
  readonly isTTY: boolean;
}

export interface DeployContext {
  paths: StorePaths;
  out: Output;
  /** Open the store, creating it (bare for root, bare-user for users) when missing. */
  repo(): Promise<OstreeRepo>;
  /** Open the store if it exists, else null (read-only commands on a fresh host). */
  repoIfExists(): Promise<OstreeRepo | null>;
  /** Signature policy settings (--signature-policy, --registries.d, --insecure-policy) for pulls and re-checks. */
  trust?: TrustSettings;
  /** The host to act on; the real one (systemctl, tmpfiles, runtime, mount) when absent. Tests pass a fake. */
  host?: HostPort;
}

/** The host port of a context: `ctx.host`, or the real host for its sysroot and mode (commands echoed to `ctx.out`). */
export function hostFor(ctx: DeployContext): HostPort {
  return ctx.host ?? realHost({ sysroot: ctx.paths.sysroot, user: ctx.paths.userMode, echo: (l) => ctx.out.line(l), cacheDir: path.join(ctx.paths.checkoutRoot, STATE_DIR) });
}
