import { dirname, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import type { EarlyConnection } from '../early-connect.js';
import { localActor, repositoryInfo } from '../git.js';

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function seconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number of seconds');
  return Number(value);
}

export function registerDeploy(program: Command): void {
  program
    .command('deploy')
    .description('deploy the working tree to an environment (production, pr-42, staging, …)')
    .argument('<environment>', 'environment name')
    .option(
      '-s, --set <KEY=VALUE>',
      'store an override for this environment (KEY= removes it); repeatable',
      collect,
      [],
    )
    .option('--lock-wait <seconds>', 'wait this long for another deploy of this app', seconds, 0)
    .option('--force', 'deploy even when nothing changed since the live release')
    .option('-c, --config <path>', 'path of toss.json', 'toss.json')
    .option(
      '-i, --identity <path>',
      'private key to log in with (default: agent, ~/.ssh/id_*; or TOSS_SSH_KEY)',
    )
    .addHelpText(
      'after',
      `
Examples:
  toss deploy production
  toss deploy pr-42 -s DEBUG=1 -s FEATURE_X=   set DEBUG, remove FEATURE_X
  toss deploy staging --lock-wait 300`,
    )
    .action(runDeploy);
}

interface DeployOptions {
  set: string[];
  lockWait: number;
  force?: boolean;
  config: string;
  identity?: string;
}

async function runDeploy(environment: string, options: DeployOptions): Promise<void> {
  // git runs (child processes, started while this process is still small) while the rest loads
  // and the config and SSH settings are read; a bad -s pair, then a config error, still win.
  const projectDir = dirname(resolve(options.config));
  const repoRead = repositoryInfo(projectDir);
  repoRead.catch(() => {});
  const actor = localActor(projectDir);
  actor.catch(() => {});
  // Bad -s pairs are refused here, before any connection (the pipeline checks them again).
  const [{ applyOverrideArgs }, { connectEarly }] = await Promise.all([
    import('../../server/env-file.js'),
    import('../early-connect.js'),
  ]);
  applyOverrideArgs(new Map(), options.set);
  // The login starts now, while the pipeline loads and toss.json is checked (early-connect.ts).
  const early = connectEarly(resolve(options.config), options.identity);
  try {
    await deployWith(environment, options, { repoRead, actor, early });
  } finally {
    await early.close();
  }
}

async function deployWith(
  environment: string,
  options: DeployOptions,
  started: {
    repoRead: ReturnType<typeof repositoryInfo>;
    actor: ReturnType<typeof localActor>;
    early: EarlyConnection;
  },
): Promise<void> {
  const { repoRead, actor, early } = started;
  // Loaded here, not at the top: --help and usage errors load none of it (ssh2, zod, the pipeline);
  // and only once the login is under way, so its round trips overlap this process's loading.
  await early.started;
  const [{ resolveSourceDir }, { deploy }, { loadContext }, { runShellCommand }, { cliPrinter }] =
    await Promise.all([
      import('../../config/source-dir.js'),
      import('../../pipeline/deploy.js'),
      import('../context.js'),
      import('../local-runner.js'),
      import('../progress.js'),
    ]);
  const context = await loadContext(options, { actor });
  const sourceDir = resolveSourceDir(context.projectDir, context.config.root, context.configPath);
  const repo = await repoRead;
  const connect = await early.connectFor(context);
  const result = await deploy(
    {
      config: context.config,
      login: context.login,
      ...(connect ? { connect } : {}),
      environment,
      actor: context.actor,
      lockWaitSeconds: options.lockWait,
      sourceDir,
      origin: repo.origin,
      commit: repo.commit,
      ...(repo.branch ? { branch: repo.branch } : {}),
      overrides: options.set,
      force: options.force === true,
      // toss.json's `build` runs here, in root; `cache` is the action's alone.
      builder: { run: runShellCommand },
    },
    cliPrinter(),
  );
  process.stdout.write(
    result.unchanged
      ? `\n${result.environment} is unchanged, still live at ${result.url} (release ${result.release}); --force deploys anyway\n`
      : `\n${result.environment} is live at ${result.url} (release ${result.release})\n`,
  );
}
