import { homedir } from 'node:os';
import { join } from 'node:path';
import SSHConfig from 'ssh-config';
import { ConnectionError } from '../errors.js';
import { readIfExists } from './local-file.js';
import type { Login } from './login.js';

/**
 * Where and how the CLI logs in, resolved the way `ssh` would: the login itself (host is the one
 * actually dialled, the ssh config's HostName or the alias; the key from a file, or the agent).
 */
export interface SshTarget extends Login {
  /** the name given in toss.json (an alias, or the host itself) */
  alias: string;
  /** which file knownHosts came from, for messages */
  knownHostsFile: string;
}

/** The login the user asked for, before ~/.ssh/config and the defaults fill it in. */
export interface SshTargetQuery {
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

type Computed = Record<string, string | string[] | undefined>;

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Resolves a CLI login: ~/.ssh/config alias, identity (flag, TOSS_SSH_KEY, agent, default files), known_hosts. */
export async function resolveSshTarget(
  request: SshTargetQuery,
  env: NodeJS.ProcessEnv = process.env,
  home: string = env.HOME ?? homedir(),
): Promise<SshTarget> {
  const computed = await sshConfigFor(request.host, home);
  const host = first(computed.hostname) ?? request.host;
  const portText = first(computed.port);
  const port = request.port ?? (portText ? Number(portText) : 22);
  const user = request.user ?? first(computed.user) ?? 'root';

  const knownHostsFile = env.TOSS_KNOWN_HOSTS || join(home, '.ssh', 'known_hosts');
  const knownHosts = (await readIfExists(knownHostsFile)) ?? '';

  const target: SshTarget = { alias: request.host, host, port, user, knownHosts, knownHostsFile };
  const explicit = request.identity ?? env.TOSS_SSH_KEY;
  if (explicit) return withKeyFile(target, expandHome(explicit, home));
  if (env.SSH_AUTH_SOCK) target.agent = env.SSH_AUTH_SOCK;
  return withDefaultKey(target, computed.identityfile, home);
}

/** What ~/.ssh/config says for `alias`; refuses the proxies toss does not go through. */
async function sshConfigFor(alias: string, home: string): Promise<Computed> {
  const configText = (await readIfExists(join(home, '.ssh', 'config'))) ?? '';
  const computed: Computed = configText
    ? (SSHConfig.parse(configText).compute(alias, { ignoreCase: true }) as Computed)
    : {};
  for (const refused of ['proxyjump', 'proxycommand']) {
    const value = first(computed[refused]);
    if (value && value.toLowerCase() !== 'none') {
      throw new ConnectionError(
        `~/.ssh/config sets ${refused === 'proxyjump' ? 'ProxyJump' : 'ProxyCommand'} for ${alias}; toss connects directly`,
        {
          hint: 'use a host toss can reach directly in "server", or deploy from a machine inside that network',
        },
      );
    }
  }
  return computed;
}

/** The target with the key file the user named (--identity or TOSS_SSH_KEY), which must exist. */
async function withKeyFile(target: SshTarget, path: string): Promise<SshTarget> {
  const key = await readIfExists(path);
  if (key === undefined) {
    throw new ConnectionError(`identity file ${path} does not exist`, {
      hint: 'pass --identity PATH or set TOSS_SSH_KEY to a private key file',
    });
  }
  return { ...target, privateKey: key, identityFile: path };
}

/**
 * The target with the first key file that exists (ssh config IdentityFile, then the default
 * names), or with the agent alone; refuses when there is neither.
 */
async function withDefaultKey(
  target: SshTarget,
  configured: string | string[] | undefined,
  home: string,
): Promise<SshTarget> {
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
