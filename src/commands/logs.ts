import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { containerLogs } from '../app/containers/logs.js';

export default class Logs extends BaseCommand {
  static override description = "Show the journal of a system container's unit (journalctl -u NAME.service; --user-unit for user containers).";
  static override examples = ['<%= config.bin %> logs hello', '<%= config.bin %> logs -f -n 20 hello'];
  static override args = { name: Args.string({ required: true, description: 'Container name.' }) };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'Keep printing new lines as they arrive.' }),
    lines: Flags.integer({ char: 'n', description: 'Show only the last N lines.', min: 0, helpValue: 'N' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Logs);
    process.exitCode = await containerLogs(this.makeContext(flags), args.name, { follow: flags.follow, lines: flags.lines });
  }
}
