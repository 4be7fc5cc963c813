import type { Command } from 'commander';
import { seconds } from './deploy.js';

/**
 * `toss sweep`: the previews past production's previews.ttl go. Whether a pull request is closed
 * only GitHub knows, and the CLI does not ask it: the action's sweep removes those.
 */
export function registerSweep(program: Command): void {
  program
    .command('sweep')
    .description(
      "remove previews last deployed longer ago than production's previews.ttl (the GitHub Action's sweep also removes those of closed pull requests)",
    )
    .option('--lock-wait <seconds>', 'wait this long for another deploy of this app', seconds, 0)
    .option('-c, --config <path>', 'path of toss.json', 'toss.json')
    .option('-i, --identity <path>', 'private key to log in with')
    .addHelpText('after', '\nExample:\n  toss sweep')
    .action(async (options: { lockWait: number; config: string; identity?: string }) => {
      // Loaded when the command runs: --help loads none of it.
      const [{ loadContext }, { sweepPreviews }, { cliPrinter }] = await Promise.all([
        import('../context.js'),
        import('../../pipeline/sweep.js'),
        import('../progress.js'),
      ]);
      const context = await loadContext(options);
      const removed = await sweepPreviews(
        {
          config: context.config,
          login: context.login,
          actor: context.actor,
          lockWaitSeconds: options.lockWait,
          isClosed: async () => undefined,
        },
        cliPrinter(),
      );
      process.stdout.write(
        removed.length === 0
          ? '\nno preview is past its ttl\n'
          : `\nremoved ${removed.join(', ')}\n`,
      );
    });
}
