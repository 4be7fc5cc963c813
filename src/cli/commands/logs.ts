import type { Command } from 'commander';
import { TossError } from '../../errors.js';
import { lineCount, withServerOptions } from './common.js';

/** What logs and ssh run on, loaded when one runs: --help loads none of it. */
const load = () => Promise.all([import('../context.js'), import('../../pipeline/shell.js')]);

export function registerLogs(program: Command): void {
  withServerOptions(
    program
      .command('logs')
      .description("print the journal of an environment's service")
      .argument('<environment>', 'environment name')
      .option('-n, --lines <N>', 'how many of the last lines to print', lineCount, 100)
      .option('-f, --follow', 'keep printing new lines until Ctrl-C'),
  )
    .addHelpText(
      'after',
      `
Examples:
  toss logs production
  toss logs pr-42 -n 500
  toss logs production -f      follow; Ctrl-C ends it (exit status 0)`,
    )
    .action(
      async (
        environment: string,
        options: { lines: number; follow?: boolean; config: string; identity?: string },
      ) => {
        const [{ loadContext }, { streamLogs, streamFleetLogs }] = await load();
        const context = await loadContext(options);
        const abort = new AbortController();
        const onSignal = () => abort.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          const logs = {
            lines: options.lines,
            follow: Boolean(options.follow),
            write: (chunk: Buffer) => process.stdout.write(chunk),
            writeErr: (chunk: Buffer) => process.stderr.write(chunk),
            signal: abort.signal,
          };
          const { config } = context;
          if (environment === 'production' && context.fleet.length > 0) {
            // Production on several servers: every server's journal, each line prefixed.
            const names = [config.server, ...(config.servers ?? []).map((s) => s.server)];
            const logins = [context.login, ...context.fleet];
            const servers = logins.map((login, i) => ({ name: names[i]!, login }));
            await streamFleetLogs(servers, config.app, environment, logs);
          } else {
            await streamLogs(context.login, config.app, environment, logs);
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      },
    );
}

export function registerSsh(program: Command): void {
  withServerOptions(
    program
      .command('ssh')
      .description("open a shell on the server in the environment's live release directory")
      .argument('<environment>', 'environment name')
      .option('--root', "a root shell instead of the environment user's (prints a warning)"),
  )
    .addHelpText(
      'after',
      `
Uses the system ssh with the host key toss verified (StrictHostKeyChecking=yes, no ~/.ssh/config).
The shell runs as the environment's own user (the one its app and deployScript run as), without
the environment's variables: the release holds what its build wrote, and a tool run there as root
(git reads .git/config, npm reads .npmrc) could run that build's code as root. --root opens a
root shell there all the same (through sudo -n for other logins).

Examples:
  toss ssh production
  toss ssh pr-42
  toss ssh production --root`,
    )
    .action(
      async (
        environment: string,
        options: { config: string; identity?: string; root?: boolean },
      ) => {
        const [{ loadContext }, { openShell }] = await load();
        const context = await loadContext(options);
        if (options.root) {
          process.stderr.write(
            "warning: a root shell in a release directory: its files come from the environment's build; do not run git, npm or other tools that read configuration from it\n",
          );
        }
        const code = await openShell(context.login, context.config.app, environment, {
          root: Boolean(options.root),
        });
        // 255 is ssh's own failure; any other status is the remote shell's last command.
        if (code === 255) {
          throw new TossError('ssh could not open the session (exit 255); see its message above', {
            hint: 'check that the system ssh can reach the server (toss list works over the same key)',
          });
        }
      },
    );
}
