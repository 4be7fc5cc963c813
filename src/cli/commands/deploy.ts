import { dirname, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import type { OpenServer } from '../../pipeline/server.js';
import type { Login } from '../../remote/login.js';
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
    .option(
      '--skip-server <server>',
      'production on several servers: leave this one (as toss.json names it) out; `toss status` shows it as drift; repeatable',
      collect,
      [],
    )
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
  skipServer: string[];
  config: string;
  identity?: string;
}

async function runDeploy(environment: string, options: DeployOptions): Promise<void> {
  // git runs (child processes, started while this process is still small) while the rest loads
  // and the config and SSH settings are read; a bad -s pair, then a config error, still win.
  const configPath = resolve(options.config);
  const projectDir = dirname(configPath);
  const repoRead = repositoryInfo(projectDir);
  repoRead.catch(() => {});
  const actor = localActor(projectDir);
  actor.catch(() => {});
  // toss.json as written, read once: the upload's file list is hashed from it from here on
  // (early-hash.ts).
  const [{ configAsWritten }, { hashBeforeChecks }] = await Promise.all([
    import('../config-as-written.js'),
    import('../early-hash.js'),
  ]);
  const written = configAsWritten(configPath);
  const treeHash = hashBeforeChecks(configPath, written);
  // The connection to toss.json's server starts next, while everything else loads and is
  // checked; it authenticates only once every check passed (early-connect.ts).
  const { connectBeforeChecks } = await import('../early-connect.js');
  const early = connectBeforeChecks(written, options.identity);
  await early.started;
  let closeOthers = async () => {};
  try {
    // Loaded here, not at the top: --help and usage errors load none of it (ssh2, zod, the
    // pipeline).
    const [
      { applyOverrideArgs },
      { resolveSourceDir },
      { loadContext },
      { validateEnvName },
      { normalizeOrigin },
    ] = await Promise.all([
      import('../../server/env-file.js'),
      import('../../config/source-dir.js'),
      import('../context.js'),
      import('../../config/env-name.js'),
      import('../../server/origin.js'),
    ]);
    // Bad -s pairs are refused here, before any login (the pipeline checks them again).
    applyOverrideArgs(new Map(), options.set);
    const context = await loadContext(options, { actor });
    const sourceDir = resolveSourceDir(context.projectDir, context.config.root, context.configPath);
    const repo = await repoRead;
    // What the deploy checks before it connects, checked here first (it checks them again).
    validateEnvName(environment, 'environment');
    normalizeOrigin(repo.origin);
    // Every check of the input passed: the login may authenticate now, while the pipeline loads.
    early.proceed(context.login, context.config.app);
    // Production's other servers start logging in now, while the pipeline loads.
    const opening = early.connect().then((connect) => {
      const others = preopened(connect, context, environment, options.skipServer);
      closeOthers = others.close;
      return others.connect;
    });
    opening.catch(() => {});
    const [{ deploy }, { runShellCommand }, { cliPrinter }] = await Promise.all([
      import('../../pipeline/deploy.js'),
      import('../local-runner.js'),
      import('../progress.js'),
    ]);
    const connect = await opening;
    const result = await deploy(
      {
        config: context.config,
        login: context.login,
        connect,
        environment,
        actor: context.actor,
        lockWaitSeconds: options.lockWait,
        sourceDir,
        origin: repo.origin,
        commit: repo.commit,
        ...(repo.branch ? { branch: repo.branch } : {}),
        overrides: options.set,
        force: options.force === true,
        treeHash: await treeHash,
        fleet: context.fleet,
        skipServers: options.skipServer,
        // toss.json's `build` runs here, in root; `cache` is the action's alone.
        builder: { run: runShellCommand },
      },
      cliPrinter(),
    );
    process.stdout.write(
      result.unchanged
        ? `\n${result.environment} is unchanged, still live at ${result.url} (release ${result.release}); --force deploys anyway\n`
        : `\n${result.environment} is live at ${result.url} (release ${result.release}${result.servers ? `, on ${result.servers.length} servers` : ''})\n`,
    );
  } finally {
    await early.close();
    await closeOthers();
  }
}

/**
 * Production on several servers: the other servers' logins start now, alongside the first
 * server's early one, rather than once the pipeline has loaded (a login changes nothing; the
 * deploy still connects every server before any change, fleet.ts). One the deploy does not take
 * is closed at the end.
 */
function preopened(
  connect: OpenServer,
  context: { config: { app: string; servers?: { server: string }[] | undefined }; fleet: Login[] },
  environment: string,
  skip: string[],
): { connect: OpenServer; close: () => Promise<void> } {
  const { app, servers = [] } = context.config;
  if (environment !== 'production' || servers.length === 0) {
    return { connect, close: async () => {} };
  }
  const opening = context.fleet
    .filter((_login, i) => !skip.includes(servers[i]?.server ?? ''))
    .map((login) => ({ login, server: connect(login, app), taken: false }));
  for (const o of opening) o.server.catch(() => {});
  return {
    connect: (login, forApp) => {
      const match = opening.find((o) => !o.taken && o.login === login && forApp === app);
      if (match === undefined) return connect(login, forApp);
      match.taken = true;
      return match.server;
    },
    close: async () => {
      await Promise.all(
        opening
          .filter((o) => !o.taken)
          .map((o) => o.server.then((server) => server.close()).catch(() => {})),
      );
    },
  };
}
