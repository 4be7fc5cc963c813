import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import SSHConfig from 'ssh-config';
import { ConnectionError } from '../errors.js';

/** Where and how the CLI logs in, resolved the way `ssh` would. */
export interface SshTarget {
  /** the name given in toss.json (an alias, or the host itself) */
  alias: string;
  /** the host actually dialled (ssh config HostName, or the alias) */
  host: string;
  port: number;
  user: string;
  /** private key contents, when a key file is used */
  privateKey?: string;
  /** the file privateKey came from (rsync's ssh gets the same file) */
  identityFile?: string;
  /** agent socket, when the agent is used */
  agent?: string;
  /** known_hosts text to verify the host key against */
  knownHosts: string;
  /** which file knownHosts came from, for messages */
  knownHostsFile: string;
}

export interface TargetRequest {
  host: string;
  /** user and port exactly as written in `server`; absent means "ssh config, else default" */
  user?: string;
  port?: number;
  /** --identity PATH */
  identity?: string;
}

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

const expandHome = (path: string, home: string) =>
  path === '~' ? home : path.startsWith('~/') ? join(home, path.slice(2)) : path;

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

type Computed = Record<string, string | string[] | undefined>;

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Resolves a CLI login: ~/.ssh/config alias, identity (flag, TOSS_SSH_KEY, agent, default files), known_hosts. */
export async function resolveSshTarget(
  request: TargetRequest,
  env: NodeJS.ProcessEnv = process.env,
  home: string = env.HOME ?? homedir(),
): Promise<SshTarget> {
  const configText = (await readIfExists(join(home, '.ssh', 'config'))) ?? '';
  const computed: Computed = configText
    ? (SSHConfig.parse(configText).compute(request.host, { ignoreCase: true }) as Computed)
    : {};
  for (const refused of ['proxyjump', 'proxycommand']) {
    const value = first(computed[refused]);
    if (value && value.toLowerCase() !== 'none') {
      throw new ConnectionError(
        `~/.ssh/config sets ${refused === 'proxyjump' ? 'ProxyJump' : 'ProxyCommand'} for ${request.host}; toss connects directly`,
        {
          hint: 'use a host toss can reach directly in "server", or deploy from a machine inside that network',
        },
      );
    }
  }
  const host = first(computed.hostname) ?? request.host;
  const portText = first(computed.port);
  const port = request.port ?? (portText ? Number(portText) : 22);
  const user = request.user ?? first(computed.user) ?? 'root';

  const knownHostsFile = env.TOSS_KNOWN_HOSTS || join(home, '.ssh', 'known_hosts');
  const knownHosts = (await readIfExists(knownHostsFile)) ?? '';

  const explicit = request.identity ?? env.TOSS_SSH_KEY;
  const target: SshTarget = { alias: request.host, host, port, user, knownHosts, knownHostsFile };
  if (explicit) {
    const path = expandHome(explicit, home);
    const key = await readIfExists(path);
    if (key === undefined) {
      throw new ConnectionError(`identity file ${path} does not exist`, {
        hint: 'pass --identity PATH or set TOSS_SSH_KEY to a private key file',
      });
    }
    return { ...target, privateKey: key, identityFile: path };
  }
  if (env.SSH_AUTH_SOCK) target.agent = env.SSH_AUTH_SOCK;
  const configured = computed.identityfile;
  const candidates = [
    ...(Array.isArray(configured) ? configured : configured ? [configured] : []),
    ...DEFAULT_KEYS.map((name) => join('~', '.ssh', name)),
  ].map((p) => expandHome(p, home));
  for (const path of candidates) {
    const key = await readIfExists(path);
    if (key !== undefined) return { ...target, privateKey: key, identityFile: path };
  }
  if (!target.agent) {
    throw new ConnectionError(
      'no SSH key found: no agent (SSH_AUTH_SOCK) and no ~/.ssh/id_ed25519, id_ecdsa or id_rsa',
      {
        hint: 'pass --identity PATH or set TOSS_SSH_KEY',
      },
    );
  }
  return target;
}
