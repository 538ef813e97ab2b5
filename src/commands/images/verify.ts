import { Args } from '@oclif/core';
import { BaseCommand, storageFlag } from '../../cli/base-command.js';
import { imagesVerify, type ImageVerification } from '../../app/images/verify.js';
import { trustFlags, trustSettingsFromFlags } from '../../cli/trust-flags.js';
import { AtomicError } from '../../util/errors.js';

export default class ImagesVerify extends BaseCommand {
  static override aliases = ['verify'];
  static override description = 'Re-checksum every object of an image in the store and report corruption.';
  static override examples = ['<%= config.bin %> images verify systest:latest'];
  static override args = { image: Args.string({ required: true, description: 'Image name or id prefix.' }) };
  static override flags = { storage: storageFlag, ...trustFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImagesVerify);
    this.checkStorage(flags.storage);
    const ctx = this.makeContext(flags);
    ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
    const r = await imagesVerify(ctx, args.image);
    for (const l of verifyLines(r)) this.log(l);
    if (r.problems.length) {
      for (const p of r.problems) this.logToStderr(p);
      throw new AtomicError('STORE_CORRUPT', `image ${args.image} failed verification: ${r.problems.length} problem(s)`, {
        suggestions: [`Delete and pull the image again: atomic images delete -y ${args.image} && atomic images prune && atomic pull --storage ostree SRC`],
      });
    }
    if (r.signature.error) throw r.signature.error;
    this.log(`${args.image}: all objects verified`);
  }
}

/** One line per commit checked (a missing ref is only a problem), then the signature check. */
function verifyLines(r: ImageVerification): string[] {
  const lines = r.commits.filter((c) => c.commit !== null).map((c) => `${c.what}: ${c.problems.length ? 'FAILED' : 'ok'} (commit ${c.commit})`);
  for (const n of r.signature.notes) lines.push(`signature: ${n}`);
  if (r.signature.policyFile !== null) lines.push(`signature: ok (policy ${r.signature.policyFile})`);
  if (r.signature.error) lines.push(`signature: FAILED (${r.signature.error.message})`);
  return lines;
}
