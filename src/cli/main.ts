import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { registerDb } from './commands/db.js';
import { registerDeploy } from './commands/deploy.js';
import { registerInit } from './commands/init.js';
import { registerList, registerStatus } from './commands/list.js';
import { registerLock } from './commands/lock.js';
import { registerLogs, registerSsh } from './commands/logs.js';
import { registerRemove } from './commands/remove.js';
import { registerReleases, registerRollback } from './commands/rollback.js';
import { registerSecrets } from './commands/secrets.js';
import { registerSweep } from './commands/sweep.js';

/**
 * Builds the `toss` program; each command lives in its own file and registers itself here. The
 * command files hold only what commander needs (names, options, help); an action loads the code
 * that does the work when it runs, so `toss --help` and usage errors never load ssh2, zod or the
 * pipeline (test/unit/cli-start.test.ts checks it).
 */
export function buildProgram(): Command {
  const program = new Command('toss')
    .description(
      'Deploy an app from a git repository to your own server over SSH, with a preview per pull request.',
    )
    .version(VERSION, '-v, --version')
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run toss --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerInit(program);
  registerDeploy(program);
  registerRemove(program);
  registerRollback(program);
  registerReleases(program);
  registerList(program);
  registerStatus(program);
  registerLogs(program);
  registerSsh(program);
  registerDb(program);
  registerSecrets(program);
  registerSweep(program);
  registerLock(program);
  program.addHelpText(
    'after',
    `
Examples:
  toss deploy production        deploy the working tree to production
  toss deploy pr-42 -s DEBUG=1  deploy a preview with an override
  toss remove pr-42             tear a preview down
  toss status                   environments, lock and drift, with the commands that fix it
  toss rollback production      put the previous release live again
  toss logs production -f       follow the service's journal
  toss db shell pr-42           psql in a preview's own database`,
  );
  return program;
}

/** Runs the CLI and returns the exit status: 0 success, 1 failure, 2 usage error. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    const { renderError } = await import('./output.js');
    return renderError(error);
  }
}
