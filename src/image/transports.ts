/**
 * Transport registry: SRC string (or parsed reference) → ImageSource. The pull logic only sees
 * the ImageSource interface; adding a transport means a new reference variant and a case here.
 */
import { AtomicError } from '../util/errors.js';
import { describeReference, parseImageReference, type ImageReference } from './reference.js';
import { openOciLayout } from './transports/oci-layout.js';
import { openOciArchive } from './transports/oci-archive.js';
import { openDockerArchive } from './transports/docker-archive.js';
import type { ImageSource, OpenSourceOptions } from './source.js';

export async function openImageSource(ref: string | ImageReference, opts: OpenSourceOptions = {}): Promise<ImageSource> {
  const r = typeof ref === 'string' ? parseImageReference(ref, { cwd: opts.cwd }) : ref;
  switch (r.transport) {
    case 'oci':
      return openOciLayout(r, { platform: opts.platform });
    case 'oci-archive':
      return openOciArchive(r, { platform: opts.platform });
    case 'docker-archive':
      return openDockerArchive(r);
    case 'registry':
      throw new AtomicError('NOT_SUPPORTED', `registry pulls are not supported yet ("${r.raw}" names the registry image ${r.name})`, {
        ref: r.raw,
        suggestions: [
          'Copy the image to a local OCI layout first, e.g. skopeo copy docker://IMAGE oci:/tmp/img:TAG, then pull oci:/tmp/img:TAG.',
          'An existing layout directory must be given as a path (oci:/abs/path or oci:./rel/path).',
        ],
      });
    case 'docker-daemon':
      throw new AtomicError('NOT_SUPPORTED', `pulling from the local docker daemon ("${describeReference(r)}") is not supported`, {
        ref: r.raw,
        suggestions: [`Export the image with docker save -o /tmp/img.tar ${r.name}, then pull dockertar://tmp/img.tar.`],
      });
  }
}
