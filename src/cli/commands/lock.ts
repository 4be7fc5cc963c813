import type { Command } from 'commander';
import { printJson, withServerOptions } from './common.js';

/** What the lock commands run on, loaded when one runs: --help loads none of it. */
const load = () => Promise.all([import('../context.js'), import('../../pipeline/lock-admin.js')]);

export function registerLock(program: Command): void {
  const lock = program
    .command('lock')
    .description("show or release the app's deploy lock")
    .addHelpText(
      'after',
      `
Examples:
  toss lock status
  toss lock release            drops a stale lock, or one whose process is gone
  toss lock release --force    drops another run's live lock (it changes nothing more)`,
    );
  withServerOptions(
    lock
      .command('status')
      .description('who holds the lock, since when, from which run')
      .option('--json', 'print JSON: null or { environment, by, host, pid, startedAt, … }'),
  )
    .addHelpText('after', '\nExamples:\n  toss lock status\n  toss lock status --json')
    .action(async (options: { json?: boolean; config: string; identity?: string }) => {
      const [[{ loadContext }, { readLockStatus }], { renderLock }] = await Promise.all([
        load(),
        import('../render-status.js'),
      ]);
      const context = await loadContext(options);
      const status = await readLockStatus(context.login, context.config.app);
      if (options.json) printJson(status);
      else process.stdout.write(renderLock(status, context.config.app));
    });
  withServerOptions(
    lock
      .command('release')
      .description("release the lock and stop its run's long step")
      .option('-f, --force', "release another run's live lock too"),
  )
    .addHelpText('after', '\nExamples:\n  toss lock release\n  toss lock release --force')
    .action(async (options: { force?: boolean; config: string; identity?: string }) => {
      const [{ loadContext }, { releaseLockAsAdmin }] = await load();
      const context = await loadContext(options);
      const result = await releaseLockAsAdmin(context.login, context.config.app, {
        force: Boolean(options.force),
      });
      process.stdout.write(`${result.message}\n`);
    });
}
