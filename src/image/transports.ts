/**
 * Transport registry: SRC string (or parsed reference) → ImageSource. The pull logic only sees
 * the ImageSource interface; adding a transport means a new reference variant and a case here.
 */
import { parseImageReference, type ImageReference } from './reference.js';
import { openOciLayout } from './transports/oci-layout.js';
import { openOciArchive } from './transports/oci-archive.js';
import { openDockerArchive } from './transports/docker-archive.js';
import { openDockerDaemon } from './transports/docker-daemon.js';
import { openRegistrySource, type RegistrySourceOptions } from './registry/source.js';
import type { ImageSource, OpenSourceOptions } from './source.js';

export interface OpenImageSourceOptions extends OpenSourceOptions {
  /** Registry sources: credentials and TLS settings. */
  registry?: RegistrySourceOptions;
  /** Warnings (e.g. atomic's "not fully qualified" note for a bare name). */
  onWarning?(msg: string): void;
}

export async function openImageSource(ref: string | ImageReference, opts: OpenImageSourceOptions = {}): Promise<ImageSource> {
  const r = typeof ref === 'string' ? parseImageReference(ref, { cwd: opts.cwd }) : ref;
  switch (r.transport) {
    case 'oci':
      return openOciLayout(r, { platform: opts.platform });
    case 'oci-archive':
      return openOciArchive(r, { platform: opts.platform });
    case 'docker-archive':
      return openDockerArchive(r);
    case 'registry':
      return openRegistrySource(r, { ...opts.registry, platform: opts.platform, onWarning: opts.onWarning });
    case 'docker-daemon':
      return openDockerDaemon(r);
  }
}
