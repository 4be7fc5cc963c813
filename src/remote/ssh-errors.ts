/**
 * ssh2's low-level failures turned into errors a user can act on: what happened, where, what next.
 */
import { ConnectionError, RemoteCommandError, type TossError } from '../errors.js';

/** What the messages need to know about the attempted connection. */
export interface ConnectTarget {
  host: string;
  port: number;
  username: string;
  /** the identity file, when the key came from one */
  keyPath: string | undefined;
  agent: string | undefined;
  /** what was offered, for messages: `the key /home/me/.ssh/id_ed25519 and ssh-agent's keys` */
  offered: string;
  connectTimeoutMs: number;
}

type Ssh2Error = Error & { level?: string; code?: string };

/** `user@host`, `user@host:2222`, `user@[::1]:2222`. */
export function describeTarget(username: string, host: string, port: number): string {
  const shownHost = host.includes(':') && port !== 22 ? `[${host}]` : host;
  return `${username}@${shownHost}${port === 22 ? '' : `:${port}`}`;
}

/** Map an error from ssh2's connect/handshake/auth to a ConnectionError. */
export function connectError(err: unknown, target: ConnectTarget): TossError {
  const e = (err instanceof Error ? err : new Error(String(err))) as Ssh2Error;
  if (e.level === 'client-authentication') {
    const who = describeTarget(target.username, target.host, target.port);
    return new ConnectionError(
      `the server did not accept the SSH key for ${target.username}@${target.host} (offered ${target.offered})`,
      {
        hint: `add the public key to ~${target.username}/.ssh/authorized_keys on the server (ssh-copy-id -i KEY.pub ${who}), or point toss at the right key with --identity PATH (or TOSS_SSH_KEY); check the user name too`,
        cause: e,
      },
    );
  }
  return unreachableError(e, target) ?? unusableKeyError(e, target) ?? handshakeError(e, target);
}

/** `ssh -p PORT user@host`, for hints: what the user can run to see for themselves. */
function trySsh(target: ConnectTarget): string {
  return `try: ssh -p ${target.port} ${target.username}@${target.host}`;
}

/** The server could not be reached at all: no answer, no such name, nothing listening, no route. */
function unreachableError(e: Ssh2Error, target: ConnectTarget): ConnectionError | undefined {
  const where = `${target.host}:${target.port}`;
  const tryIt = trySsh(target);
  if (e.level === 'client-timeout') {
    return new ConnectionError(
      `no SSH answer from ${where} within ${Math.round(target.connectTimeoutMs / 1000)} s`,
      {
        hint: `check the address and port, that the server is up, and that a firewall allows TCP port ${target.port}; ${tryIt}`,
        cause: e,
      },
    );
  }
  if (e.level === 'client-dns' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') {
    return new ConnectionError(`cannot resolve the host name ${target.host}`, {
      hint: 'check the spelling of `server` (toss.json or --server) and your DNS',
      cause: e,
    });
  }
  if (e.code === 'ECONNREFUSED') {
    return new ConnectionError(`connection refused by ${where}: nothing listens for SSH there`, {
      hint: `check the port (server: "user@host:port") and that sshd is running on the server; ${tryIt}`,
      cause: e,
    });
  }
  if (e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH' || e.code === 'ETIMEDOUT') {
    return new ConnectionError(`cannot reach ${where} (${e.code})`, {
      hint: `check the address, your network and the server's firewall; ${tryIt}`,
      cause: e,
    });
  }
  return undefined;
}

/** The key to log in with could not be used: the agent failed, or the key file is unreadable. */
function unusableKeyError(e: Ssh2Error, target: ConnectTarget): ConnectionError | undefined {
  if (e.level === 'agent') {
    return new ConnectionError(`could not use the SSH agent at ${target.agent}: ${e.message}`, {
      hint: 'check SSH_AUTH_SOCK and `ssh-add -l`, or pass a key file with --identity PATH',
      cause: e,
    });
  }
  if (/privateKey|passphrase|private key/i.test(e.message) && !e.level) {
    return new ConnectionError(
      `cannot use the private key${target.keyPath ? ` ${target.keyPath}` : ''}: ${e.message}`,
      {
        hint: 'toss needs an OpenSSH or PEM private key; an encrypted key needs its passphrase, or load it into ssh-agent (ssh-add) instead',
        cause: e,
      },
    );
  }
  return undefined;
}

/** Anything else: the connection was made but the SSH handshake did not complete. */
function handshakeError(e: Ssh2Error, target: ConnectTarget): ConnectionError {
  if (/lost before handshake/i.test(e.message)) {
    return new ConnectionError(
      `${target.host}:${target.port} closed the connection before the SSH handshake`,
      {
        hint: "something accepted the TCP connection but did not speak SSH: the server may be limiting connections (sshd MaxStartups) or blocking this address (fail2ban, firewall), or the port is not sshd's; wait and retry, or check the server's auth log",
        cause: e,
      },
    );
  }
  const who = describeTarget(target.username, target.host, target.port);
  return new ConnectionError(`SSH connection to ${who} failed: ${e.message}`, {
    hint: `${trySsh(target)} to see what the server says`,
    cause: e,
  });
}

/** The connection went away while a command ran (keepalives unanswered, reset, server gone). */
export function connectionLostError(
  who: string,
  command: string | undefined,
  cause: Error | undefined,
): ConnectionError {
  const during = command === undefined ? '' : ` while running: ${command}`;
  const why = cause ? ` (${cause.message})` : '';
  return new ConnectionError(`lost the SSH connection to ${who}${during}${why}`, {
    hint: 'the server stopped answering; check that it is up and reachable, then run again: every step is safe to repeat',
    ...(cause ? { cause } : {}),
  });
}

/** The failure of a command that went through `sudo -n`, when sudo itself refused. */
export function sudoError(
  username: string,
  host: string,
  command: string,
  exitCode: number | null,
  outputTail: string,
): RemoteCommandError | undefined {
  const sudoers = `echo '${username} ALL=(ALL) NOPASSWD:ALL' | sudo tee /etc/sudoers.d/${username}`;
  // Not anchored on "sudo:": the tail may begin mid-line.
  if (/(a password is required|a terminal is required)$/m.test(outputTail)) {
    return new RemoteCommandError(command, exitCode, outputTail, {
      message: `sudo asks ${username}@${host} for a password: toss needs passwordless sudo for ${username}`,
      hint: `allow it on the server (as root): ${sudoers} — or connect as root`,
    });
  }
  if (/is not in the sudoers file|is not allowed to execute/.test(outputTail)) {
    return new RemoteCommandError(command, exitCode, outputTail, {
      message: `${username}@${host} may not use sudo: toss needs passwordless sudo for ${username}`,
      hint: `allow it on the server (as root): ${sudoers} — or connect as root`,
    });
  }
  if (exitCode === 127 && /sudo: (command )?not found/.test(outputTail)) {
    return new RemoteCommandError(command, exitCode, outputTail, {
      message: `sudo is not installed on ${host}, and ${username} is not root`,
      hint: 'install sudo on the server (apt-get install sudo) and allow passwordless sudo, or connect as root',
    });
  }
  return undefined;
}
