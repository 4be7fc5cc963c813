import type { Command } from 'commander';
import { withServerOptions } from './common.js';
import { seconds } from './deploy.js';

/** What rollback and releases run on, loaded when one runs: --help loads none of it. */
const load = () => Promise.all([import('../context.js'), import('../../pipeline/rollback.js')]);

export function registerRollback(program: Command): void {
  withServerOptions(
    program
      .command('rollback')
      .description('put a kept release live again: the one before the live one, or the one named')
      .argument('<environment>', 'environment name')
      .argument('[release]', 'release id (toss releases <environment> lists them)')
      .option('--lock-wait <seconds>', 'wait this long for another deploy of this app', seconds, 0),
  )
    .addHelpText(
      'after',
      `
The release starts on the idle port and must pass the health check before it gets traffic.

Examples:
  toss rollback production
  toss rollback production 20261127T223015Z-3fa9`,
    )
    .action(
      async (
        environment: string,
        release: string | undefined,
        options: { lockWait: number; config: string; identity?: string },
      ) => {
        // The login starts first, from toss.json as written (early-connect.ts).
        const { withLoginFromConfigFile } = await import('../early-connect.js');
        await withLoginFromConfigFile(options, async (login) => {
          const [[{ loadContext }, { rollback }], { cliPrinter }] = await Promise.all([
            load(),
            import('../progress.js'),
          ]);
          const context = await loadContext(options);
          const result = await rollback(
            {
              config: context.config,
              login: context.login,
              fleet: context.fleet,
              connect: await login.connectAs(context.login, context.config.app),
              environment,
              actor: context.actor,
              lockWaitSeconds: options.lockWait,
              release,
            },
            cliPrinter(),
          );
          process.stdout.write(
            `\n${result.environment} rolled back from ${result.from} to ${result.release}${result.url ? ` at ${result.url}` : ''}\n`,
          );
        });
      },
    );
}

export function registerReleases(program: Command): void {
  withServerOptions(
    program
      .command('releases')
      .description('list the kept releases of an environment (live, previous)')
      .argument('<environment>', 'environment name'),
  )
    .addHelpText('after', '\nExamples:\n  toss releases production')
    .action(async (environment: string, options: { config: string; identity?: string }) => {
      const [[{ loadContext }, { readKeptReleases }], { renderReleases }] = await Promise.all([
        load(),
        import('../render-status.js'),
      ]);
      const context = await loadContext(options);
      const kept = await readKeptReleases(context.login, context.config.app, environment);
      process.stdout.write(renderReleases(environment, kept));
    });
}
