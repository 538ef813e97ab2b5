/**
 * Transport registry: SRC string (or parsed reference) → ImageSource. The pull logic only sees
 * the ImageSource interface; adding a transport means a new reference variant and a case here.
 * Each transport is loaded when used (an install from the store loads none of them).
 */
import { AtomicError } from '../util/errors.js';
import { describeReference, parseImageReference, type ImageReference } from './reference.js';
import type { RegistrySourceOptions } from './registry/source.js';
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
      return (await import('./transports/oci-layout.js')).openOciLayout(r, { platform: opts.platform });
    case 'oci-archive':
      return (await import('./transports/oci-archive.js')).openOciArchive(r, { platform: opts.platform });
    case 'docker-archive':
      return (await import('./transports/docker-archive.js')).openDockerArchive(r);
    case 'registry':
      return (await import('./registry/source.js')).openRegistrySource(r, { ...opts.registry, platform: opts.platform, onWarning: opts.onWarning });
    case 'docker-daemon':
      throw new AtomicError('NOT_SUPPORTED', `pulling from the local docker daemon ("${describeReference(r)}") is not supported`, {
        ref: r.raw,
        suggestions: [`Export the image with docker save -o /tmp/img.tar ${r.name}, then pull dockertar://tmp/img.tar.`],
      });
  }
}
