import type { Command } from 'commander';
import { TossError } from '../../errors.js';
import { withServerOptions } from './common.js';
import { seconds } from './deploy.js';

interface ServerOptions {
  config: string;
  identity?: string;
}

export function registerDb(program: Command): void {
  const db = program
    .command('db')
    .description("an environment's database: a psql shell, a reset to the seed, a dump")
    .addHelpText(
      'after',
      `
Each environment of an app with "database" in toss.json has its own PostgreSQL database on the
server, reached as the environment's own role (its system user, no password).

Examples:
  toss db shell pr-42
  toss db reset pr-42
  toss db dump production > production.sql`,
    );
  registerShell(db);
  registerReset(db);
  registerDump(db);
}

function registerShell(db: Command): void {
  withServerOptions(
    db
      .command('shell')
      .description("open psql in an environment's database, as its role")
      .argument('<environment>', 'environment name'),
  )
    .addHelpText(
      'after',
      `
Uses the system ssh with the host key toss verified (StrictHostKeyChecking=yes, no ~/.ssh/config),
like toss ssh; psql runs on the server as the environment's user, so it can do what the app can
and nothing more.

Examples:
  toss db shell production
  toss db shell pr-42`,
    )
    .action(async (environment: string, options: ServerOptions) => {
      // Loaded when the command runs (as in every command): --help loads none of it.
      const [{ loadContext }, { openDatabaseShell }] = await Promise.all([
        import('../context.js'),
        import('../../pipeline/db.js'),
      ]);
      const context = await loadContext(options);
      const code = await openDatabaseShell(context.login, context.config, environment);
      // 255 is ssh's own failure; any other status is psql's.
      if (code === 255) {
        throw new TossError('ssh could not open the session (exit 255); see its message above', {
          hint: 'check that the system ssh can reach the server (toss list works over the same key)',
        });
      }
      if (code !== 0) throw new TossError(`psql exited with status ${code}`);
    });
}

function registerReset(db: Command): void {
  withServerOptions(
    db
      .command('reset')
      .description("make a preview's database again as a fresh copy of the seed's template")
      .argument('<environment>', 'environment name (not production)')
      .option('--lock-wait <seconds>', 'wait this long for another deploy of this app', seconds, 0),
  )
    .addHelpText(
      'after',
      `
The database is dropped (its open connections are ended) and made again as a copy of the app's
newest template, the one the last seed made (empty when there is no seed). The environment keeps
running: its next connection sees the fresh copy. Migrations a deployScript ran on it are gone
with it; the next deploy of the environment runs them again. Production is refused.

Examples:
  toss db reset pr-42`,
    )
    .action(async (environment: string, options: ServerOptions & { lockWait: number }) => {
      const [{ loadContext }, { resetDatabase }, { EMPTY_TEMPLATE }, { cliPrinter }] =
        await Promise.all([
          import('../context.js'),
          import('../../pipeline/db.js'),
          import('../../server/database.js'),
          import('../progress.js'),
        ]);
      const context = await loadContext(options);
      const result = await resetDatabase(
        {
          config: context.config,
          login: context.login,
          environment,
          actor: context.actor,
          lockWaitSeconds: options.lockWait,
        },
        cliPrinter(),
      );
      const from =
        result.template === EMPTY_TEMPLATE
          ? `${EMPTY_TEMPLATE} (empty: the app has no seed template)`
          : result.template;
      process.stdout.write(
        `\n${result.environment}'s database ${result.database} reset: a fresh copy of ${from}\n`,
      );
    });
}

function registerDump(db: Command): void {
  withServerOptions(
    db
      .command('dump')
      .description("print an environment's database as SQL (pg_dump) on stdout")
      .argument('<environment>', 'environment name'),
  )
    .addHelpText(
      'after',
      `
Plain SQL without owners or grants (pg_dump --no-owner --no-privileges), made as the
environment's role; only the dump goes to stdout, messages go to stderr.

Examples:
  toss db dump pr-42 > pr-42.sql
  toss db dump production | gzip > production.sql.gz`,
    )
    .action(async (environment: string, options: ServerOptions) => {
      const [{ loadContext }, { dumpDatabase }] = await Promise.all([
        import('../context.js'),
        import('../../pipeline/db.js'),
      ]);
      const context = await loadContext(options);
      const { bytes } = await dumpDatabase({
        config: context.config,
        login: context.login,
        environment,
        write: (chunk) => process.stdout.write(chunk),
        writeErr: (chunk) => process.stderr.write(chunk),
      });
      process.stderr.write(`dumped ${environment}'s database: ${bytes} bytes\n`);
    });
}
