import type { Command } from 'commander';
import { seconds } from './deploy.js';

export function registerRemove(program: Command): void {
  program
    .command('remove')
    .description('tear an environment down: service, site, files, overrides, ports')
    .argument('<environment>', 'environment name')
    .option('-f, --force', 'allow removing production')
    .option(
      '--drop-database',
      "with production: drop its database too (it is kept otherwise); other environments' always go",
    )
    .option('--lock-wait <seconds>', 'wait this long for another deploy of this app', seconds, 0)
    .option('-c, --config <path>', 'path of toss.json', 'toss.json')
    .option('-i, --identity <path>', 'private key to log in with')
    .addHelpText('after', '\nExamples:\n  toss remove pr-42\n  toss remove production --force')
    .action(
      async (
        environment: string,
        options: {
          force?: boolean;
          dropDatabase?: boolean;
          lockWait: number;
          config: string;
          identity?: string;
        },
      ) => {
        // Loaded when the command runs: --help loads none of it. The login starts first, from
        // toss.json as written (early-connect.ts).
        const { withLoginFromConfigFile } = await import('../early-connect.js');
        await withLoginFromConfigFile(options, async (login) => {
          const [{ loadContext }, { remove }, { cliPrinter }] = await Promise.all([
            import('../context.js'),
            import('../../pipeline/remove.js'),
            import('../progress.js'),
          ]);
          const context = await loadContext(options);
          const result = await remove(
            {
              config: context.config,
              login: context.login,
              fleet: context.fleet,
              connect: await login.connectAs(context.login, context.config.app),
              environment,
              actor: context.actor,
              lockWaitSeconds: options.lockWait,
              force: Boolean(options.force),
              dropDatabase: Boolean(options.dropDatabase),
            },
            cliPrinter(),
          );
          process.stdout.write(result.removed ? `\n${environment} removed\n` : '');
        });
      },
    );
}
