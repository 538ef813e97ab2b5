import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { updateAllContainers } from '../../app/containers/update-all.js';
import { summaryLines, type SummaryColor } from '../../cli/summary.js';
import { AtomicError } from '../../util/errors.js';
import { trustFlags, trustSettingsFromFlags } from '../../cli/trust-flags.js';
import { runContainersUpdate, dryRunOutput } from '../../cli/deploy-runners.js';
import { updateDryRun } from '../../app/containers/dry-run.js';
import { stopFlagValues } from '../../host/init-binary.js';

export default class ContainersUpdate extends BaseCommand {
  static override description = 'Deploy a container again into its other slot (new image with --rebase, new values with --set) and switch atomically; restarts it only if it was running, then watches it (--watch) and restores the previous deployment when it is not healthy.';
  static override examples = ['<%= config.bin %> containers update --set PORT=8082 hello', '<%= config.bin %> containers update --rebase oci:/srv/images:hello-2 hello', '<%= config.bin %> containers update --all'];
  static override args = { name: Args.string({ required: false, description: 'Container name.' }) };
  static override flags = {
    rebase: Flags.string({ description: 'Move the container to another image (pulled if missing).', helpValue: 'IMAGE' }),
    set: Flags.string({ description: 'Template variable NAME=VALUE; repeatable.', multiple: true, multipleNonGreedy: true }),
    all: Flags.boolean({ char: 'a', description: 'Update every installed system container (a `Checking container NAME...` line each, then a SUMMARY table; failures are listed there, exit 0). Does not pull.' }),
    watch: Flags.integer({ description: 'Seconds to watch the restarted service before the update counts as done: the unit must stay active and the readiness check pass, else the previous deployment is restored and started, the image quarantined, exit 8. 0 disables.', default: 10, min: 0, helpValue: 'SECONDS' }),
    reset: Flags.string({ description: 'Drop the value KEY, so the image default (or the OS default) applies again; repeatable.', multiple: true, multipleNonGreedy: true, helpValue: 'KEY' }),
    'stop-timeout': Flags.integer({ description: 'Seconds a stop waits after the stop signal before the container is killed (kept as the value STOP_TIMEOUT).', min: 0, max: 3600, helpValue: 'SECONDS' }),
    init: Flags.boolean({ description: 'Run the host\'s catatonit as PID 1 of the container from now on (kept as the value ATOMIC_INIT; --set ATOMIC_INIT= removes it).' }),
    'health-check': Flags.string({ description: 'Readiness check for the health gate, overriding the image\'s (manifest.json healthCheck, Docker Healthcheck); kept for later updates: none, notify (sd_notify READY=1; the unit becomes Type=notify), http://127.0.0.1:PORT/PATH, tcp:HOST:PORT or exec:COMMAND (in the container).', helpValue: 'SPEC' }),
    'dry-run': Flags.boolean({ description: 'Show what the update would change and change nothing: unified diff of the unit, config.json and tmpfiles.d file, the value changes and where each value comes from, the layers to download with their sizes (from the manifest; no layer is fetched) and the disk space needed. See docs/dry-run.md.' }),
    json: Flags.boolean({ description: 'With --dry-run: print the preview as JSON (schema: docs/dry-run.md).', dependsOn: ['dry-run'] }),
    'auto-update': Flags.boolean({ description: 'Have `atomic auto-update` keep it updated from its registry (--no-auto-update: never, whatever the image label says); kept for later updates (docs/auto-update.md).', allowNo: true }),
    ...trustFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainersUpdate);
    const ctx = this.makeContext(flags);
    ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
    if (flags.all) {
      if (args.name) throw new AtomicError('USAGE', "Incompatible options specified.  --all doesn't support a container name");
      if (flags.set?.length || flags.reset?.length || flags.rebase || flags.init || flags['stop-timeout'] !== undefined || flags['auto-update'] !== undefined) throw new AtomicError('USAGE', "Incompatible options specified.  --all doesn't support --set or --rebase");
      if (flags['dry-run']) throw new AtomicError('USAGE', '--dry-run previews one container: give its name instead of --all');
      const rows = await updateAllContainers(ctx);
      const color = (st: string): SummaryColor => (st === 'Failed' || st === 'Not updated' ? 'red' : st === 'Unknown' ? 'yellow' : 'green');
      const lines = summaryLines(
        [15, 32, 32, 32, 15],
        ['Container', 'Image ID before update', 'Image ID after update', 'Latest image ID', 'Status'],
        rows.map((r) => ({ cells: [r.name, r.before, r.after, r.latest ?? '<NOT FOUND>'], status: r.status, color: color(r.status) })),
        ctx.out.isTTY,
      );
      for (const l of lines) this.log(l);
      return;
    }
    if (!args.name) throw new AtomicError('USAGE', 'Too few arguments.  Please specify the container');
    if (flags['dry-run']) {
      const o = { name: args.name, rebase: flags.rebase, set: [...(flags.set ?? []), ...stopFlagValues(flags)], watch: flags.watch, healthCheck: flags['health-check'], reset: flags.reset, autoUpdate: flags['auto-update'] };
      for (const l of await dryRunOutput(await updateDryRun(ctx, o), flags.json)) this.log(l);
      return;
    }
    await runContainersUpdate(flags, args.name);
  }
}
