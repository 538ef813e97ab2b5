import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { inspectContainer } from '../../app/containers/inspect.js';
import { inspectLines } from '../../cli/inspect-lines.js';

export default class ContainersInspect extends BaseCommand {
  static override description = 'Show how a system container is installed: image and id of the current and rollback deployment, every value and where it came from, runtime, unit state, host files (and whether they were edited by hand), health check, quarantined images and the result of the last update.';
  static override examples = ['<%= config.bin %> containers inspect hello', '<%= config.bin %> containers inspect --json hello'];
  static override args = { name: Args.string({ required: true, description: 'Container name.' }) };
  static override enableJsonFlag = true;
  static override flags = { json: Flags.boolean({ description: 'Print JSON (schema: docs/inspect.md).' }) };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(ContainersInspect);
    const r = inspectContainer(this.makeContext(flags), args.name);
    for (const l of inspectLines(r)) this.log(l);
    return r;
  }
}
