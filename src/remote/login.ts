import { SshConnection } from './connection.js';
import type { Dialled } from './dial.js';
import type { HostTrust } from './host-key-policy.js';

/** How to log in: resolved by the door (CLI: ~/.ssh; action: inputs), used by the pipeline as is. */
export interface Login {
  host: string;
  port: number;
  user: string;
  /** private key contents */
  privateKey?: string;
  /** a file holding the same key, for the system ssh of `toss ssh` (a temp file when absent) */
  identityFile?: string;
  /** ssh-agent socket */
  agent?: string;
  /** known_hosts text the host key must be found in */
  knownHosts: string;
}

/**
 * Connects as `login` says, host key checked; the runners most of a run's commands use start
 * opening at once (root's: three, or two and sudo's check for another user).
 */
export async function connectLogin(
  login: Login,
  options: {
    trust?: HostTrust | undefined;
    signal?: AbortSignal | undefined;
    /** authentication waits for it (see ConnectOptions.authGate) */
    authGate?: Promise<void> | undefined;
    /** the TCP connection already under way (dial.ts) */
    dialled?: Dialled | undefined;
  } = {},
): Promise<SshConnection> {
  const conn = await SshConnection.connect({
    ...(options.trust ? { trust: options.trust } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.authGate ? { authGate: options.authGate } : {}),
    ...(options.dialled ? { dialled: options.dialled } : {}),
    host: login.host,
    port: login.port,
    username: login.user,
    knownHosts: login.knownHosts,
    ...(login.privateKey ? { privateKey: login.privateKey } : {}),
    ...(!login.privateKey && login.identityFile ? { privateKeyPath: login.identityFile } : {}),
    ...(login.agent ? { agent: login.agent } : {}),
  });
  conn.warmRunners(conn.isRoot ? 3 : 2, true);
  return conn;
}
