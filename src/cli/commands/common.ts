import { type Command, InvalidArgumentError } from 'commander';

/** --config and --identity, which every command that talks to the server takes. */
export function withServerOptions(command: Command): Command {
  return command
    .option('-c, --config <path>', 'path of toss.json', 'toss.json')
    .option(
      '-i, --identity <path>',
      'private key to log in with (default: agent, ~/.ssh/id_*; or TOSS_SSH_KEY)',
    );
}

export function lineCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number of lines');
  return Number(value);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
