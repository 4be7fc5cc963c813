/**
 * `toss init`: the wizard from a bare server and a repository to a first deploy. Every question
 * is also a flag; `--yes` asks nothing (scripts, CI). Files are planned (and refused) before the
 * server is touched, written only after provisioning succeeded.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import type { BuildPlace } from '../../config/init-files.js';
import { UsageError } from '../../errors.js';
import type { InitTrust, PresentedHostKey } from '../../pipeline/init.js';
import { normalizeFingerprint } from '../../remote/host-key-policy.js';
import { readIfExists } from '../../remote/local-file.js';
import { localActor } from '../git.js';
import type { InitOptions } from '../init-plan.js';
import type { Prompter } from '../prompter.js';
import { collect } from './deploy.js';

const FINGERPRINT = /^(?:SHA256:)?[A-Za-z0-9+/]{43}=?$/;

function fingerprint(value: string): string {
  if (!FINGERPRINT.test(value.trim())) {
    throw new InvalidArgumentError(
      'expected a SHA256 fingerprint like SHA256:abc…(43 characters), as ssh-keygen -lf prints it',
    );
  }
  return normalizeFingerprint(value);
}

function buildPlace(value: string): BuildPlace {
  if (value === 'runner' || value === 'server') return value;
  throw new InvalidArgumentError('expected "runner" or "server"');
}

/** Adds the accepted key to known_hosts (created 0600 if missing), as ssh's accept-new does. */
async function recordHostKey(file: string, line: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const current = await readIfExists(file);
  const gap = current && !current.endsWith('\n') ? '\n' : '';
  await appendFile(file, `${gap}${line}\n`, { mode: 0o600 });
}

async function runInit(options: InitOptions): Promise<void> {
  if (!options.yes && !process.stdin.isTTY) {
    throw new UsageError('toss init asks its questions on a terminal, and there is none here', {
      hint: 'for scripts and CI pass --yes with --server, --app, --start, and --build (built where toss runs) or --deploy-script (built on the server); --host-key SHA256:… pins the server key',
    });
  }
  // Loaded when init runs, not at the top: --help and usage errors load none of it.
  const [plan, { loginFrom, resolveServer }, { initServer }, { renderSummary }, { cliPrinter }] =
    await Promise.all([
      import('../init-plan.js'),
      import('../context.js'),
      import('../../pipeline/init.js'),
      import('../init-summary.js'),
      import('../progress.js'),
    ]);
  const prompter = options.yes ? undefined : (await import('../prompter.js')).clackPrompter();
  const { projectDir, repo, files } = await plan.planInit(options, prompter);
  const config = await plan.configInEffect(files[0]);

  const ssh = await resolveServer(config.server, options.identity);
  const result = await initServer(
    {
      login: loginFrom(ssh),
      app: config.app,
      origin: repo.origin,
      dependencies: config.dependencies,
      database: config.database,
      actor: await localActor(projectDir),
      trust: hostTrust(options, prompter, ssh.knownHostsFile),
    },
    cliPrinter(),
  );
  const recordedKey = result.hostKey.source !== 'known-hosts';
  if (recordedKey) await recordHostKey(ssh.knownHostsFile, result.hostKey.line);
  // Production's other servers (toss.json `servers`), one after another, each line prefixed
  // with its server. A --host-key pin is the first server's: the others are trusted as known
  // hosts, confirmed, or (--yes) accepted new like ssh's accept-new.
  for (const entry of config.servers ?? []) {
    const other = await resolveServer(entry.server, options.identity);
    const printer = cliPrinter();
    const done = await initServer(
      {
        login: loginFrom(other),
        app: config.app,
        origin: repo.origin,
        dependencies: config.dependencies,
        actor: await localActor(projectDir),
        trust: hostTrust({ ...options, hostKey: undefined }, prompter, other.knownHostsFile),
      },
      (event) => printer({ ...event, server: entry.server }),
    );
    if (done.hostKey.source !== 'known-hosts') {
      await recordHostKey(other.knownHostsFile, done.hostKey.line);
    }
    const changes = done.changes.length === 0 ? 'already provisioned' : done.changes.join('; ');
    process.stdout.write(`${entry.server} (${entry.role}): ${changes}\n`);
  }
  await plan.writePlannedFiles(files);
  process.stdout.write(
    renderSummary(await plan.summaryOf(config, ssh, result, recordedKey, files)),
  );
}

/** How a host known_hosts does not list may be trusted: pinned, confirmed, or as accept-new. */
function hostTrust(
  options: InitOptions,
  prompter: Prompter | undefined,
  knownHostsFile: string,
): InitTrust {
  if (options.hostKey) return { kind: 'pinned', fingerprint: options.hostKey };
  if (prompter) {
    return { kind: 'confirm', confirm: (key) => confirmHostKey(prompter, knownHostsFile, key) };
  }
  return { kind: 'accept-new' };
}

async function confirmHostKey(
  prompter: Prompter,
  knownHostsFile: string,
  key: PresentedHostKey,
): Promise<boolean> {
  prompter.note(
    [
      `The server presented this ${key.keyType} host key, which ${knownHostsFile} does not list:`,
      `  ${key.fingerprint}`,
      'Compare it with the fingerprint the server itself shows (on its console, or from your provider):',
      '  ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub',
    ].join('\n'),
    'Unknown host key — not verified yet',
  );
  return prompter.confirm(`Is ${key.fingerprint} the server's key? Trust it and continue`, false);
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description(
      'set up a server and this repository: test SSH, provision (Caddy, rsync, PostgreSQL when toss.json has database, users, /srv/<app>), write toss.json and the GitHub workflow',
    )
    .option('--server <target>', 'SSH target: user@host[:port] or a ~/.ssh/config alias')
    .option('--app <name>', 'app name (default: the repository directory name)')
    .option('--domain <host>', 'production host name (default: sslip.io names)')
    .option('--start <command>', 'command that starts the app; it must listen on $PORT')
    .option(
      '--build-on <place>',
      'where the app is built: "runner" (where toss runs: the CI runner, or this machine) or "server"; default: where toss.json builds, else runner when package.json has a lockfile or a build script, else server',
      buildPlace,
    )
    .option(
      '--build <command>',
      'command run where toss runs, before the upload (install, build); repeatable, in order; implies --build-on runner',
      collect,
      [],
    )
    .option(
      '--deploy-script <command>',
      'command run on the server in each new release: install and build there, or migrations after a runner build; repeatable, in order; alone, implies --build-on server unless toss.json has build',
      collect,
      [],
    )
    .option(
      '-i, --identity <path>',
      'private key to log in with (default: agent, ~/.ssh/id_*; or TOSS_SSH_KEY)',
    )
    .option(
      '--host-key <fingerprint>',
      'trust the server only if its host key has this fingerprint (SHA256:…, from ssh-keygen -lf on the server)',
      fingerprint,
    )
    .option('--force', 'overwrite an existing toss.json or workflow that differs')
    .option(
      '-y, --yes',
      'ask nothing: take flags and defaults, accept a new host key like ssh accept-new (a changed key is always refused)',
    )
    .option('-c, --config <path>', 'path of toss.json to write', 'toss.json')
    .addHelpText(
      'after',
      `
Examples:
  toss init
  toss init --yes --server root@203.0.113.10 --app myapp --domain myapp.com \\
    --start "node dist/server.js" --build "npm ci" --build "npm run build" --build "npm prune --omit=dev"
  toss init --yes --server root@203.0.113.10 --app myapp --build-on server \\
    --start "node server.js" --deploy-script "npm ci" --deploy-script "npm run build"
  toss init --yes --host-key SHA256:4b3f…  --server deploy@myapp.com   pin the server's key`,
    )
    .action((options: InitOptions) => runInit(options));
}
