import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { runTarget, ostreeStorage } from '../app/labels/commands.js';
import { optFlags, exportOptEnv } from '../cli/opt-flags.js';
import { splitAtFirstPositional, type FlagShape } from '../cli/passthrough.js';

export default class Run extends BaseCommand {
  static override summary = 'Start an installed container, or run an image: its RUN label, or once in the foreground.';
  static override description = [
    'NAME of an installed system container: without CMD `systemctl start NAME`; with CMD, `<runtime> exec NAME CMD` when it is active, else a one-off run of its config.json with CMD as the process.',
    'IMAGE (pulled first if missing): the command in its RUN label (IMAGE, NAME, ${CONFDIR}, ${LOGDIR}, ${DATADIR} substituted, CMD appended), unless the ostree storage applies (--storage ostree, or default_storage: ostree in /etc/atomic.conf), the image is labelled atomic.run=once or it has no RUN label: then it runs once: a throw-away checkout, config.json from /exports (or generated from the image config), CMD replacing its command, the runtime in the foreground, the checkout removed afterwards.',
    'Without CMD only an atomic.run=once image (or, without the ostree storage, a RUN label) runs: for any other IMAGE that is not an installed container there is no unit to start, and atomic fails at once (exit 1) instead of running a service in the foreground.',
    'atomic exits with the exit status of the command or container.',
  ].join('\n\n');
  static override examples = [
    '<%= config.bin %> run etcd',
    '<%= config.bin %> run --storage ostree --set RECEIVER=Mars oci:/srv/images:hello /bin/sh -c \'echo $RECEIVER\'',
    '<%= config.bin %> run --display registry.example.com/tools:1.0',
  ];
  static override strict = false;
  static override args = { target: Args.string({ required: true, description: 'Installed container NAME, or IMAGE (a name in the store or any pull source); the words after it are CMD.' }) };
  static override flags = {
    ...optFlags,
    name: Flags.string({ char: 'n', description: 'NAME for the RUN command, or the container id of a run-once container (default: run-once-PID).' }),
    display: Flags.boolean({ description: 'Print the command that would run and run nothing.' }),
    set: Flags.string({ description: 'Template variable NAME=VALUE for a run-once container; repeatable.', multiple: true, multipleNonGreedy: true }),
    runtime: Flags.string({ description: 'OCI runtime binary (default: atomic.conf runtime, $RUNC_PATH, runc from PATH).', helpValue: 'PATH' }),
    detach: Flags.boolean({ char: 'd', description: 'With CMD in a running container: `<runtime> exec --detach` (atomic: "Cannot use --detach with not running containers" otherwise).' }),
    storage: Flags.string({ description: "Storage backend; only 'ostree' is supported. With the ostree storage (this flag, or default_storage: ostree in /etc/atomic.conf) an image's RUN label is ignored.", options: ['ostree', 'docker'] }),
  };

  async run(): Promise<void> {
    const split = splitAtFirstPositional(this.argv, { ...Run.baseFlags, ...Run.flags } as Record<string, FlagShape>);
    const { args, flags } = await this.parse(Run, split.head);
    exportOptEnv(flags);
    this.checkStorage(flags.storage);
    const ctx = this.makeContext(flags);
    process.exitCode = await runTarget(ctx, {
      target: args.target,
      command: split.rest,
      name: flags.name,
      display: flags.display,
      set: flags.set,
      runtime: flags.runtime,
      storageOstree: ostreeStorage(ctx, flags.storage),
      detach: flags.detach,
    });
  }
}
