import { dirname, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { resolveSourceDir } from '../../config/source-dir.js';
import { deploy } from '../../pipeline/deploy.js';
import { applyOverrideArgs } from '../../server/env-file.js';
import { loadContext, repositoryInfo } from '../context.js';
import { runShellCommand } from '../local-runner.js';
import { progressPrinter, useColor } from '../progress.js';

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function seconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number of seconds');
  return Number(value);
}

export function cliPrinter() {
  return progressPrinter({
    tty: Boolean(process.stdout.isTTY),
    color: useColor(process.stdout),
    write: (text) => process.stdout.write(text),
  });
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
  config: string;
  identity?: string;
}

async function runDeploy(environment: string, options: DeployOptions): Promise<void> {
  // Bad -s pairs are refused here, before any connection (the pipeline checks them again).
  applyOverrideArgs(new Map(), options.set);
  // The repository is read while the config and SSH settings are; a config error wins.
  const repoRead = repositoryInfo(dirname(resolve(options.config)));
  repoRead.catch(() => {});
  const context = await loadContext(options);
  const sourceDir = resolveSourceDir(context.projectDir, context.config.root, context.configPath);
  const repo = await repoRead;
  const result = await deploy(
    {
      config: context.config,
      login: context.login,
      environment,
      actor: context.actor,
      lockWaitSeconds: options.lockWait,
      sourceDir,
      origin: repo.origin,
      commit: repo.commit,
      ...(repo.branch ? { branch: repo.branch } : {}),
      overrides: options.set,
      // toss.json's `build` runs here, in root; `cache` is the action's alone.
      builder: { run: runShellCommand },
    },
    cliPrinter(),
  );
  process.stdout.write(
    `\n${result.environment} is live at ${result.url} (release ${result.release})\n`,
  );
}
