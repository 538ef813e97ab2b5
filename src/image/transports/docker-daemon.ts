/**
 * `docker:NAME[:TAG]` — an image of the local container engine (atomic's `docker-daemon:` skopeo
 * source). We have no daemon client: the engine's own CLI exports the image (`docker save NAME` or
 * `podman save NAME`, both the `docker save` format), its stdout is streamed to a private spool file
 * (the format puts manifest.json last and needs random access, so it cannot be imported straight
 * from the pipe; nothing is held in memory) and imported as a docker archive. The spool is removed
 * when the source is closed. The image is stored under NAME:TAG as given, as atomic did.
 *
 * Which CLI: $ATOMIC_DOCKER_CLI if set; else `docker` when its daemon answers (`docker version`),
 * else `podman`. Neither installed: a clear error naming what to install.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, createWriteStream, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AtomicError } from '../../util/errors.js';
import { openDockerArchive, type DockerArchiveSource } from './docker-archive.js';
import type { DockerDaemonReference } from '../reference.js';
import type { Descriptor, ImageSource, SourceManifest } from '../source.js';
import { atomicEnv } from '../../util/env.js';
import { removeTree } from '../../util/remove-tree.js';

function onPath(cmd: string): string | null {
  const dirs = cmd.includes('/') ? [''] : (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const dir of dirs) {
    const p = dir ? path.join(dir, cmd) : cmd;
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** The CLI that exports `docker:` images, or an error saying what to install. */
export function findEngineCli(ref: string): { cli: string; name: string } {
  const forced = atomicEnv('ATOMIC_DOCKER_CLI');
  if (forced) {
    const p = onPath(forced);
    if (!p) throw new AtomicError('NOT_FOUND', `ATOMIC_DOCKER_CLI=${forced} is not an executable`, { ref });
    return { cli: p, name: path.basename(forced) };
  }
  const docker = onPath('docker');
  const podman = onPath('podman');
  if (docker) {
    const r = spawnSync(docker, ['version', '--format', '{{.Server.Version}}'], { stdio: 'ignore', timeout: 15_000 });
    if (r.status === 0 || !podman) return { cli: docker, name: 'docker' };
  }
  if (podman) return { cli: podman, name: 'podman' };
  throw new AtomicError('NOT_FOUND', `pulling ${ref} needs the docker or podman command to export the image, and neither is installed`, {
    ref,
    suggestions: [
      'Install podman (Debian/Ubuntu: apt-get install podman; Fedora: dnf install podman) or docker, then retry.',
      'Or export the image on a machine that has it (docker save -o img.tar NAME) and pull dockertar:/ABSOLUTE/PATH/img.tar.',
    ],
  });
}

/** The docker archive in the spool, named and described as the docker: reference. */
class DockerDaemonSource implements ImageSource {
  constructor(
    readonly description: string,
    readonly imageName: string,
    private readonly inner: DockerArchiveSource,
    private readonly spoolDir: string,
  ) {}
  getManifest(): Promise<SourceManifest> {
    return this.inner.getManifest();
  }
  getBlob(d: Descriptor): Promise<NodeJS.ReadableStream> {
    return this.inner.getBlob(d);
  }
  async close(): Promise<void> {
    await this.inner.close();
    await removeTree(this.spoolDir);
  }
}

export async function openDockerDaemon(ref: DockerDaemonReference): Promise<ImageSource> {
  const described = `docker:${ref.name}`;
  const { cli, name } = findEngineCli(described);
  const dir = await fsp.mkdtemp(path.join(atomicEnv('ATOMIC_SPOOL_DIR') ?? os.tmpdir(), 'atomic-docker-save-'));
  const file = path.join(dir, 'image.tar');
  try {
    const child = spawn(cli, ['save', ref.name], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => {
      if (stderr.length < 4096) stderr += c;
    });
    const exited = new Promise<number>((resolve, reject) => {
      child.on('error', (e) => reject(new AtomicError('IO', `cannot run ${cli} save: ${e.message}`, { ref: ref.raw, cause: e })));
      child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
    await pipeline(child.stdout, createWriteStream(file, { mode: 0o600 }));
    const code = await exited;
    if (code !== 0) {
      const msg = (stderr.trim().split('\n').pop() ?? '').replace(/^(error:\s*)+/i, '');
      const missing = /no such image|image not known|not found|does not exist/i.test(stderr);
      throw new AtomicError(missing ? 'IMAGE_NOT_FOUND' : 'IO', `${name} save ${ref.name} failed (exit ${code})${msg ? `: ${msg}` : ''}`, {
        ref: ref.raw,
        suggestions: missing ? [`Check the name with \`${name} images\`.`] : [`Check that \`${name} save ${ref.name}\` works on this host.`],
      });
    }
    const inner = await openDockerArchive({ transport: 'docker-archive', form: 'docker-archive', path: file, raw: ref.raw });
    return new DockerDaemonSource(described, ref.name, inner, dir);
  } catch (e) {
    await removeTree(dir);
    throw e;
  }
}
