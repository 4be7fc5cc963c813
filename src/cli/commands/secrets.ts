import { constants } from 'node:fs';
import { chmod, open, readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { TossError } from '../../errors.js';
import type { EnvironmentClass } from '../../server/paths.js';
import { isSecretClass } from '../../server/secrets.js';
import { withServerOptions } from './common.js';

/** What push and pull run on, loaded when one runs: --help loads none of it. */
const load = () =>
  Promise.all([
    import('../context.js'),
    import('../../pipeline/secrets.js'),
    import('../../config/dotenv.js'),
  ]);

function secretClass(value: string): EnvironmentClass {
  if (!isSecretClass(value)) throw new InvalidArgumentError('expected production or preview');
  return value;
}

export function registerSecrets(program: Command): void {
  const secrets = program
    .command('secrets')
    .description('upload or download the base secrets of production or of all previews')
    .addHelpText(
      'after',
      `
The server keeps them in /srv/<app>/.toss/secrets/<production|preview>.env (root, 0600); every
deploy merges them under the environment's -s overrides. Values travel over SSH on stdin, never
on a command line.

Examples:
  toss secrets push production --file .env.production
  toss secrets pull preview --file .env.preview`,
    );
  registerPush(secrets);
  registerPull(secrets);
}

interface SecretsOptions {
  file: string;
  force?: boolean;
  config: string;
  identity?: string;
}

function registerPush(secrets: Command): void {
  withServerOptions(
    secrets
      .command('push')
      .description('replace the server secrets with a local dotenv file')
      .argument('<class>', 'production or preview', secretClass)
      .requiredOption('--file <path>', 'dotenv file to upload'),
  )
    .addHelpText(
      'after',
      `
The file is dotenv (KEY=VALUE, # comments, 'single', "double" or \`backtick\` quotes, multi-line
quoted values); a bad line is reported with its number and nothing is uploaded. The next deploy
of each environment uses the new values.

Examples:
  toss secrets push production --file .env.production`,
    )
    .action(push);
}

async function push(cls: EnvironmentClass, options: SecretsOptions): Promise<void> {
  const [{ loadContext }, { pushSecrets }, { parseDotenv }] = await load();
  const text = await readLocal(options.file);
  const entries = parseDotenv(text, options.file);
  const context = await loadContext(options);
  const keys = `${entries.size} key${entries.size === 1 ? '' : 's'}`;
  // Production runs on every server of toss.json (`servers`); previews on the first one only.
  const logins = cls === 'production' ? [context.login, ...context.fleet] : [context.login];
  const names = [context.config.server, ...(context.config.servers ?? []).map((s) => s.server)];
  const results = await Promise.allSettled(
    logins.map((login) => pushSecrets(login, context.config.app, cls, entries)),
  );
  const failed: string[] = [];
  results.forEach((result, i) => {
    const where = logins.length > 1 ? ` on ${names[i]}` : '';
    if (result.status === 'fulfilled') {
      const { changed, file } = result.value;
      process.stdout.write(`${changed ? 'uploaded' : 'unchanged:'} ${keys} to ${file}${where}\n`);
    } else {
      failed.push(`${names[i]}: ${(result.reason as Error).message}`);
    }
  });
  if (failed.length > 0) {
    throw new TossError(`the secrets were not written to ${failed.join('\n')}`, {
      hint: 'push them again once every server is reachable (the push replaces the file)',
    });
  }
}

function registerPull(secrets: Command): void {
  withServerOptions(
    secrets
      .command('pull')
      .description('download the server secrets into a local dotenv file (mode 0600)')
      .argument('<class>', 'production or preview', secretClass)
      .requiredOption('--file <path>', 'local file to write')
      .option('--force', 'overwrite the file if it exists'),
  )
    .addHelpText('after', '\nExamples:\n  toss secrets pull production --file .env.production')
    .action(pull);
}

async function pull(cls: EnvironmentClass, options: SecretsOptions): Promise<void> {
  const [{ loadContext }, { pullSecrets }, { formatDotenv }] = await load();
  const context = await loadContext(options);
  const result = await pullSecrets(context.login, context.config.app, cls);
  if (result.entries === null) {
    throw new TossError(`the server has no ${cls} secrets (${result.file})`, {
      hint: `toss secrets push ${cls} --file FILE creates them`,
    });
  }
  const text = formatDotenv(
    result.entries,
    `${cls} secrets of ${context.config.app}, pulled by toss from ${result.file}`,
  );
  await writeLocal(options.file, text, Boolean(options.force));
  process.stdout.write(
    `wrote ${result.entries.size} key${result.entries.size === 1 ? '' : 's'} to ${options.file}\n`,
  );
}

async function readLocal(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new TossError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

/** 0600 from the first byte; an existing file is kept unless `force`. */
async function writeLocal(file: string, text: string, force: boolean): Promise<void> {
  const flags =
    constants.O_WRONLY | constants.O_CREAT | (force ? constants.O_TRUNC : constants.O_EXCL);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, flags, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new TossError(`${file} already exists; not overwriting it`, {
        hint: 'pass --force to replace it, or choose another --file',
      });
    }
    throw new TossError(`cannot write ${file}: ${(error as Error).message}`);
  }
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
  // An existing file (--force) keeps its old mode through open(); secrets must not be readable.
  await chmod(file, 0o600);
}
