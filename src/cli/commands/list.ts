import type { Command } from 'commander';
import type { CommandLogin } from '../early-connect.js';
import { printJson, withServerOptions } from './common.js';

/**
 * What list and status run on, loaded when one runs: --help loads none of it. The login starts
 * first, from toss.json as written (early-connect.ts).
 */
const withLogin = async <T>(
  options: { config: string; identity?: string },
  run: (login: CommandLogin) => Promise<T>,
) => (await import('../early-connect.js')).withLoginFromConfigFile(options, run);
const load = () =>
  Promise.all([
    import('../context.js'),
    import('../../pipeline/inspect.js'),
    import('../render-status.js'),
  ]);

export const LIST_JSON_HELP = `
JSON (--json), stable; absent values are null:
  { "version": 1, "app": "hello",
    "environments": [            production first, then by name
      { "name": "production", "url": "https://example.com/",
        "ports": [3000, 3001], "livePort": 3000,
        "release": "20261127T223015Z-3fa9", "previousRelease": "…" | null,
        "releases": ["…"],                   kept releases, oldest first
        "commit": "<sha>", "deployedAt": "<ISO 8601>", "by": "alice (laptop)",
        "runUrl": "…" | null, "branch": "…" | null, "pr": 42 | null,
        "service": "active" | "failed" | "inactive" | "activating" | … }  the live instance's state
    ],
    "servers": [                 only with toss.json servers: production's release on each
      { "name": "deploy@web1", "role": "web" | "worker", "release": "…" | null, "error": "…" | null } ] }`;

/**
 * The terminal's width when stdout is one; no limit when it is piped or redirected, so a script
 * or a file gets every column and every URL as they are.
 */
export function terminalWidth(
  stdout: { isTTY?: boolean; columns?: number } = process.stdout,
): number {
  if (stdout.isTTY && stdout.columns !== undefined && stdout.columns > 0) return stdout.columns;
  return Number.POSITIVE_INFINITY;
}

export function registerList(program: Command): void {
  withServerOptions(
    program
      .command('list')
      .description('list environments: URL, port, release, commit, deployed at/by, service state')
      .option('--json', 'print JSON (shape below)'),
  )
    .addHelpText(
      'after',
      `
In a terminal the table fits its width: RELEASE, PORT, BY, COMMIT, DEPLOYED and SERVICE give
way, in that order; ENVIRONMENT and URL are always whole. Piped, every column is printed.
${LIST_JSON_HELP}

Examples:
  toss list
  toss list --json | jq -r '.environments[].url'`,
    )
    .action(async (options: { json?: boolean; config: string; identity?: string }) => {
      await withLogin(options, async (login) => {
        const [{ loadContext }, { listApp }, { renderList }] = await load();
        const { config, login: to, fleet } = await loadContext(options);
        const connect = await login.connectAs(to, config.app);
        const listing = await listApp(config, to, fleet, connect);
        if (options.json) printJson(listing);
        else process.stdout.write(renderList(listing, new Date(), terminalWidth()));
      });
    });
}

export function registerStatus(program: Command): void {
  withServerOptions(
    program
      .command('status')
      .description(
        'config summary, environments, override keys (never values), lock, dependencies and drift warnings',
      )
      .option('--json', 'print JSON'),
  )
    .addHelpText(
      'after',
      `
JSON (--json): { "version": 1, "app", "server", "origin", "config": {…},
  "environments": [ <as in toss list --json> + "overrideKeys": ["KEY", …] ],
  "lock": null | { "environment", "by", "host", "pid", "startedAt", "heartbeatAt", "runUrl",
                   "stale", "description" },
  "dependencies": [ { "name", "command", "appliedAt", "pending" } ],
  "secrets": { "production": <number of keys> | null, "preview": … },
  "warnings": [ { "kind", "environment", "message", "fix" } ] }   fix: the command that repairs it

Examples:
  toss status
  toss status --json | jq '.warnings'`,
    )
    .action(async (options: { json?: boolean; config: string; identity?: string }) => {
      await withLogin(options, async (login) => {
        const [{ loadContext }, { statusOfApp }, { renderStatus }] = await load();
        const { config, login: to, fleet } = await loadContext(options);
        const connect = await login.connectAs(to, config.app);
        const status = await statusOfApp(config, to, fleet, connect);
        if (options.json) printJson(status);
        else process.stdout.write(renderStatus(status, new Date(), terminalWidth()));
      });
    });
}
