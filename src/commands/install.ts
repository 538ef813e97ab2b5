import { Args, Flags } from '@oclif/core';
import { BaseCommand, storageFlag } from '../cli/base-command.js';
import { installByLabel, installSystemOrRunOnce, ostreeStorage } from '../app/labels/commands.js';
import { optFlags, exportOptEnv } from '../cli/opt-flags.js';
import { splitAtFirstPositional, type FlagShape } from '../cli/passthrough.js';
import { AtomicError } from '../util/errors.js';
import { trustFlags, trustSettingsFromFlags } from '../cli/trust-flags.js';
import { runInstallSystem, dryRunOutput } from '../cli/deploy-runners.js';
import { installDryRun } from '../app/containers/dry-run.js';

export default class Install extends BaseCommand {
  static override summary = 'Install a system container from an image with /exports (the unit is enabled, not started).';
  static override description = [
    'Checks the image out to CK/NAME.0 (pulling it first if needed), renders config.json, the systemd unit and',
    'tmpfiles from /exports with --set > manifest.json defaultValues > OS defaults, writes',
    '/etc/systemd/system/NAME.service and /etc/tmpfiles.d/NAME.conf, points CK/NAME at the deployment and',
    'enables the unit. Start it with `systemctl start NAME`.',
    '',
    'An image labelled atomic.run=once is not installed: it runs once (with the --set values), its output streamed, and atomic exits with its exit status.',
    '',
    'Without --system/--user, with the ostree storage (--storage ostree, or default_storage: ostree in /etc/atomic.conf) any image is installed as with --system. Otherwise the image decides (see docs/commands/install.md): one labelled atomic.type=system is installed as with --system; else the command in its INSTALL label is run on the host with IMAGE, NAME, ${CONFDIR}, ${LOGDIR} and ${DATADIR} substituted and the ARGs after IMAGE appended; atomic exits with its exit status.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> install --system --name hello --set PORT=8080 oci:/srv/images:hello',
    '<%= config.bin %> install --system --sysroot /mnt/image-root systest:latest',
    '<%= config.bin %> install -n ssh.2 --display jdeathe/centos-ssh --manager=systemd',
  ];
  static override strict = false;
  static override args = { image: Args.string({ required: true, description: 'Image: a name in the store, or any pull source. Without --system/--user, the ARGs after it go to the INSTALL command.' }) };
  static override flags = {
    ...optFlags,
    system: Flags.boolean({ description: 'Install as a system container (root).', exclusive: ['user'] }),
    user: Flags.boolean({ description: 'Install as a user container (unprivileged; systemd user unit).' }),
    name: Flags.string({ char: 'n', description: 'Container name (default: derived from the image).' }),
    set: Flags.string({ description: 'Template variable NAME=VALUE; repeatable; overrides manifest defaults.', multiple: true, multipleNonGreedy: true }),
    option: Flags.string({ description: 'Option record KEY=VALUE (SME Server keys: MaxMemory, cpu, MountPath, DataMount, network, Interlinked, status, StartAt, ...; see docs/options.md); repeatable; over /etc/containers/atomic/NAME.conf.', multiple: true, multipleNonGreedy: true, helpValue: 'KEY=VALUE' }),
    rootfs: Flags.string({ description: 'Use an existing exploded rootfs read-only (e.g. shared over NFS, or another container\'s CK/NAME): only config, unit and tmpfiles are generated.', helpValue: 'PATH' }),
    runtime: Flags.string({ description: 'OCI runtime binary for the unit (default: atomic.conf runtime, $RUNC_PATH, /usr/bin/runc).', helpValue: 'PATH' }),
    display: Flags.boolean({ description: 'Show what would be done (the checkout path, or the resolved INSTALL command) and do nothing.' }),
    'system-package': Flags.string({ description: "atomic's rpm generation mode; only 'no' and 'auto' (= no) are supported.", options: ['auto', 'build', 'no', 'yes'], default: 'auto' }),
    'stop-timeout': Flags.integer({ description: 'Seconds a stop waits after the stop signal (the image\'s StopSignal, else SIGTERM) before the container is killed (default 10); the unit still ends inactive. Kept as the value STOP_TIMEOUT.', min: 0, max: 3600, helpValue: 'SECONDS' }),
    now: Flags.boolean({ description: 'Start the unit as well (systemctl start NAME.service after enabling it).' }),
    init: Flags.boolean({ description: 'Run a minimal init (the host\'s catatonit, bind-mounted read-only at /dev/init) as PID 1, for daemons that ignore SIGTERM as PID 1. Kept as the value ATOMIC_INIT.' }),
    'dry-run': Flags.boolean({ description: 'Show what the install would do and change nothing: the unit, config.json and tmpfiles.d file it would write (as a diff against nothing), the values and where they come from, the layers to download with their sizes (from the manifest; no layer is fetched) and the disk space needed. See docs/dry-run.md.' }),
    json: Flags.boolean({ description: 'With --dry-run: print the preview as JSON (schema: docs/dry-run.md).', dependsOn: ['dry-run'] }),
    'health-check': Flags.string({ description: 'Readiness check for the health gate of later updates and rollbacks, overriding the image\'s (manifest.json healthCheck, Docker Healthcheck): none, notify (sd_notify READY=1; the unit becomes Type=notify), http://127.0.0.1:PORT/PATH, tcp:HOST:PORT or exec:COMMAND (in the container).', helpValue: 'SPEC' }),
    'auto-update': Flags.boolean({ description: 'Keep the container updated from its registry by `atomic auto-update` (as the image label io.containers.autoupdate=registry does); kept across updates. The first such container enables atomic-auto-update.timer (docs/auto-update.md).' }),
    storage: storageFlag,
    ...trustFlags,
  };

  async run(): Promise<void> {
    // without --system/--user, everything after IMAGE is passed to the image's INSTALL command
    const labelDriven = !this.argv.some((t) => t === '--system' || t === '--user');
    const split = splitAtFirstPositional(this.argv, { ...Install.baseFlags, ...Install.flags } as Record<string, FlagShape>);
    const { args, flags } = await this.parse(Install, labelDriven ? split.head : this.argv);
    exportOptEnv(flags);
    this.checkStorage(flags.storage);
    const ctx = this.makeContext(flags);
    ctx.trust = trustSettingsFromFlags(flags, ctx.paths.userMode);
    const explicitStorage = this.argv.some((t) => t === '--storage' || t.startsWith('--storage='));
    if (!flags.system && !flags.user) {
      if (flags.set?.length) throw new AtomicError('USAGE', '--set is valid only when used with --system or --user');
      if (flags.rootfs) throw new AtomicError('USAGE', '--rootfs is valid only when used with --system or --user');
      if (flags.init || flags.now || flags['stop-timeout'] !== undefined) throw new AtomicError('USAGE', '--init, --now and --stop-timeout are valid only when used with --system or --user');
      if (flags.option?.length) throw new AtomicError('USAGE', '--option is valid only when used with --system or --user');
      if (flags['auto-update']) throw new AtomicError('USAGE', '--auto-update is valid only when used with --system or --user');
      const ostree = ostreeStorage(ctx, explicitStorage ? flags.storage : undefined);
      if (flags['dry-run'] && !ostree) throw new AtomicError('USAGE', '--dry-run is valid only for a system container (--system, --user or the ostree storage)', { suggestions: ['Use --display to see the INSTALL command an image runs.'] });
      if (flags['dry-run']) {
        for (const l of await dryRunOutput(await installDryRun(ctx, { image: args.image, name: flags.name, runtime: flags.runtime }), flags.json)) this.log(l);
        return;
      }
      if (ostree) {
        // atomic's ostree backend: a system (user, for non-root) container for any image; INSTALL labels are docker-only
        process.exitCode = await installSystemOrRunOnce(ctx, { image: args.image, name: flags.name, runtime: flags.runtime, display: flags.display, args: split.rest });
        return;
      }
      process.exitCode = await installByLabel(ctx, {
        image: args.image,
        name: flags.name,
        args: split.rest,
        display: flags.display,
        runtime: flags.runtime,
        storageExplicit: explicitStorage,
      });
      return;
    }
    process.exitCode = await runInstallSystem(flags, args.image);
  }
}
