/**
 * ONE verified SSH connection to the server, reused for every remote step.
 *
 * Commands are argv arrays, turned into a line only by shellJoin (command-line.ts). Secret values
 * go on stdin (`stdin`, `runScript`, `writeFile`), never on a command line: `ps` on the server
 * shows command lines to every user. The login shell must be POSIX-like (sh, bash, dash, zsh).
 */
import { readFile } from 'node:fs/promises';
import { NodeSSH } from 'node-ssh';
import type { Client, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { ConnectionError, RemoteCommandError } from '../errors.js';
import {
  buildCommandLine,
  MISSING_FILE_EXIT,
  readFileArgv,
  scriptArgv,
  scriptStdin,
  TIMED_OUT_EXITS,
  writeFileArgv,
} from './command-line.js';
import {
  decideHostKey,
  type HostKeyRefusedError,
  type HostTrust,
  hostKeyAlgorithms,
  noCommonKeyTypeError,
  type VerifiedHostKey,
} from './host-key-policy.js';
import { findHostKeys } from './known-hosts.js';
import { OutputTail } from './output-tail.js';
import {
  type ConnectTarget,
  connectError,
  connectionLostError,
  describeTarget,
  sudoError,
} from './ssh-errors.js';

export interface ConnectOptions {
  host: string;
  /** default 22 */
  port?: number;
  /** default 'root' */
  username?: string;
  /** private key text (OpenSSH or PEM) */
  privateKey?: string | Buffer;
  /** private key file, read here (instead of privateKey) */
  privateKeyPath?: string;
  passphrase?: string;
  /** ssh-agent socket (SSH_AUTH_SOCK) */
  agent?: string;
  /** known_hosts text; the host key must be listed in it unless `trust` says otherwise */
  knownHosts: string;
  /** `toss init` only: accept a host known_hosts does not list yet (never a changed key) */
  trust?: HostTrust;
  /** TCP connect + handshake + authentication; default 15 s */
  connectTimeoutMs?: number;
  /** default 5 s */
  keepaliveIntervalMs?: number;
  /** unanswered keepalives tolerated; ssh2 gives up at the next one: 5 s × (2 + 1) = 15 s */
  keepaliveCountMax?: number;
}

export interface RunOptions {
  /** run as root: prefixes `sudo -n --` unless the login user is root */
  sudo?: boolean;
  /** sent on stdin, then EOF; the place for secret values */
  stdin?: string | Buffer;
  /** working directory on the server (entered inside the sudo) */
  cwd?: string;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** resolve with the exit code instead of throwing RemoteCommandError */
  allowFailure?: boolean;
  /** stop the command (coreutils `timeout` on the server: TERM, KILL 5 s later) and fail */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** exit status; null when the command was killed by a signal */
  code: number | null;
  signal: string | null;
}

export interface FileOptions {
  /** as root (sudo unless the login user is root); default true: the files toss manages are root's */
  sudo?: boolean;
}

export interface WriteFileOptions extends FileOptions {
  /** permission bits, e.g. 0o600; set on the temp file before the rename */
  mode: number;
  /** `user` or `user:group` for chown */
  owner?: string;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
const DEFAULT_KEEPALIVE_INTERVAL_MS = 5_000;
const DEFAULT_KEEPALIVE_COUNT_MAX = 2;
// How long past timeoutMs (and timeout's own KILL) to wait before giving up on the channel.
const TIMEOUT_SAFETY_MS = 10_000;
// How long dispose() waits for a clean SSH disconnect before dropping the socket.
const DISPOSE_GRACE_MS = 2_000;

export class SshConnection {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** the host key this connection verified (its known_hosts line feeds rsync's StrictHostKeyChecking) */
  readonly hostKey: VerifiedHostKey;
  private readonly ssh: NodeSSH;
  private readonly client: Client;
  private closed = false;
  private disposed = false;
  private lastError: Error | undefined;
  // Commands in flight: failed at once when the connection drops.
  private readonly inFlight = new Set<(err: Error) => void>();

  private constructor(
    ssh: NodeSSH,
    client: Client,
    target: ConnectTarget,
    hostKey: VerifiedHostKey,
  ) {
    this.ssh = ssh;
    this.client = client;
    this.host = target.host;
    this.port = target.port;
    this.username = target.username;
    this.hostKey = hostKey;
    // Without an 'error' listener a keepalive timeout would crash the process.
    client.on('error', (err: Error) => {
      this.lastError = err;
    });
    client.on('close', () => {
      this.closed = true;
      const err = this.disposed
        ? new ConnectionError(`the SSH connection to ${this.target} was closed by toss`)
        : connectionLostError(this.target, undefined, this.lastError);
      for (const fail of this.inFlight) fail(err);
      this.inFlight.clear();
    });
  }

  /** Open and verify the connection. Throws HostKeyError, or ConnectionError saying what to do. */
  static async connect(options: ConnectOptions): Promise<SshConnection> {
    const port = options.port ?? 22;
    const username = options.username ?? 'root';
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const target: ConnectTarget = {
      host: options.host,
      port,
      username,
      keyPath: options.privateKeyPath,
      agent: options.agent,
      offered: describeOffered(options),
      connectTimeoutMs,
    };
    if (options.privateKey === undefined && !options.privateKeyPath && !options.agent) {
      throw new ConnectionError(
        `no SSH key to log in to ${describeTarget(username, options.host, port)}`,
        {
          hint: 'start ssh-agent with your key loaded, or pass a key file with --identity PATH (or TOSS_SSH_KEY)',
        },
      );
    }
    const privateKey = await loadPrivateKey(options);

    const lookup = findHostKeys(options.knownHosts, options.host, port);
    const algorithms = hostKeyAlgorithms(lookup);
    if (algorithms !== undefined && algorithms.length === 0) {
      throw noCommonKeyTypeError(lookup, options.host, port);
    }
    let verified: VerifiedHostKey | undefined;
    let refusal: HostKeyRefusedError | undefined;
    const hostVerifier = (key: Buffer): boolean => {
      // A re-key must present the very key verified at connect time.
      if (verified) return verified.blob.equals(key);
      const decision = decideHostKey({
        host: options.host,
        port,
        lookup,
        presented: key,
        trust: options.trust,
      });
      if (decision.ok) verified = decision.key;
      else refusal = decision.error;
      return decision.ok;
    };

    const config: ConnectConfig & { privateKey?: string } = {
      host: options.host,
      port,
      username,
      hostVerifier,
      readyTimeout: connectTimeoutMs,
      keepaliveInterval: options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
      keepaliveCountMax: options.keepaliveCountMax ?? DEFAULT_KEEPALIVE_COUNT_MAX,
      tryKeyboard: false,
    };
    if (privateKey !== undefined) config.privateKey = privateKey;
    if (options.passphrase !== undefined) config.passphrase = options.passphrase;
    if (options.agent) config.agent = options.agent;
    // The server must present a key of a type we know for it, not just its favourite one.
    if (algorithms) config.algorithms = { serverHostKey: algorithms as ServerHostKeyAlgorithm[] };

    const ssh = new NodeSSH();
    try {
      await ssh.connect(config);
    } catch (err) {
      ssh.connection?.destroy();
      if (refusal) throw refusal;
      if (err instanceof Error && /no matching host key format/.test(err.message)) {
        throw noCommonKeyTypeError(lookup, options.host, port);
      }
      throw connectError(err, target);
    }
    const client = ssh.connection;
    if (!client || !verified) {
      ssh.dispose();
      throw new ConnectionError(
        `SSH connection to ${describeTarget(username, options.host, port)} closed at once`,
      );
    }
    // Many small request/response exchanges: Nagle + delayed ACKs would add ~40 ms to each.
    client.setNoDelay(true);
    return new SshConnection(ssh, client, target, verified);
  }

  /** `user@host[:port]`, for messages. */
  get target(): string {
    return describeTarget(this.username, this.host, this.port);
  }

  get isRoot(): boolean {
    return this.username === 'root';
  }

  /** Run argv on the server; throws RemoteCommandError on a non-zero exit unless allowFailure. */
  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const viaSudo = options.sudo === true && !this.isRoot;
    const command = buildCommandLine(argv, {
      sudo: viaSudo,
      cwd: options.cwd,
      timeoutMs: options.timeoutMs,
    });
    return this.exec(command, options, viaSudo);
  }

  /** Run argv as root (through `sudo -n` when the login user is not root). */
  runAsRoot(argv: readonly string[], options: Omit<RunOptions, 'sudo'> = {}): Promise<RunResult> {
    return this.run(argv, { ...options, sudo: true });
  }

  /**
   * Run a shell script sent on stdin to `sh -s`; `args` become "$1"…. Any value written into the
   * script must be quoted with shellQuote; secrets belong in the script (stdin), never in `args`.
   */
  runScript(
    script: string,
    options: Omit<RunOptions, 'stdin'> & { args?: readonly string[] } = {},
  ): Promise<RunResult> {
    const { args, ...rest } = options;
    return this.run(scriptArgv(args), { ...rest, stdin: scriptStdin(script) });
  }

  /** Fail early, before anything changes, when the login user has no passwordless sudo. */
  async checkSudo(): Promise<void> {
    if (this.isRoot) return;
    await this.run(['true'], { sudo: true });
  }

  /** Write a file atomically (temp file beside it, mode/owner set, rename); contents go on stdin. */
  async writeFile(
    path: string,
    contents: string | Buffer,
    options: WriteFileOptions,
  ): Promise<void> {
    const viaSudo = (options.sudo ?? true) && !this.isRoot;
    const command = buildCommandLine(writeFileArgv(path, options.mode, options.owner), {
      sudo: viaSudo,
    });
    await this.exec(command, { stdin: contents }, viaSudo, `could not write ${path}`);
  }

  /** Read a file (UTF-8). Throws RemoteCommandError when it is missing or unreadable. */
  async readFile(path: string, options: FileOptions = {}): Promise<string> {
    const text = await this.readFileIfExists(path, options);
    if (text === null) {
      const command = buildCommandLine(readFileArgv(path));
      throw new RemoteCommandError(command, MISSING_FILE_EXIT, '', {
        message: `${path} does not exist on ${this.target}`,
      });
    }
    return text;
  }

  /** Read a file (UTF-8), or null when it does not exist. */
  async readFileIfExists(path: string, options: FileOptions = {}): Promise<string | null> {
    const result = await this.run(readFileArgv(path), {
      sudo: options.sudo ?? true,
      allowFailure: true,
    });
    if (result.code === MISSING_FILE_EXIT) return null;
    if (result.code !== 0) {
      const viaSudo = (options.sudo ?? true) && !this.isRoot;
      const command = buildCommandLine(readFileArgv(path), { sudo: viaSudo });
      throw this.commandError(command, result, viaSudo, undefined, `could not read ${path}`);
    }
    return result.stdout;
  }

  /** Close the connection; safe to call more than once and after the connection dropped. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      // A dead network never answers the disconnect: drop the socket after a grace period.
      const timer = setTimeout(() => {
        this.client.destroy();
        resolve();
      }, DISPOSE_GRACE_MS);
      timer.unref();
      this.client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.ssh.dispose();
    });
  }

  /** `what` names the operation in failure messages instead of the (long) command line. */
  private exec(
    command: string,
    options: RunOptions,
    viaSudo: boolean,
    what?: string,
  ): Promise<RunResult> {
    if (this.disposed) {
      return Promise.reject(
        new ConnectionError(
          `the SSH connection to ${this.target} is closed (dispose() was called)`,
        ),
      );
    }
    if (this.closed)
      return Promise.reject(connectionLostError(this.target, command, this.lastError));

    return new Promise<RunResult>((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      const tail = new OutputTail();
      let code: number | null = null;
      let signal: string | null = null;
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const started = Date.now();
      const timedOut = () =>
        new RemoteCommandError(command, code, tail.text(), {
          message: `timed out after ${(options.timeoutMs ?? 0) / 1000} s: ${command}`,
        });

      const settle = (err: Error | undefined, result?: RunResult) => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(onLost);
        if (timer) clearTimeout(timer);
        if (err) reject(err);
        else resolve(result!);
      };
      const onLost = (err: Error) => {
        const lost = this.disposed
          ? err
          : connectionLostError(this.target, command, this.lastError);
        settle(lost);
      };
      this.inFlight.add(onLost);

      try {
        this.client.exec(command, (err, opened) => {
          if (err) {
            settle(
              this.closed
                ? connectionLostError(this.target, command, this.lastError)
                : new ConnectionError(
                    `could not start a command on ${this.target}: ${err.message}`,
                    {
                      hint: 'the server refused a new session (sshd MaxSessions?); try again',
                      cause: err,
                    },
                  ),
            );
            return;
          }
          opened.on('data', (chunk: Buffer) => {
            stdout.push(chunk);
            tail.push(chunk);
            options.onStdout?.(chunk);
          });
          opened.stderr.on('data', (chunk: Buffer) => {
            stderr.push(chunk);
            tail.push(chunk);
            options.onStderr?.(chunk);
          });
          opened.on('exit', (exitCode: number | null, exitSignal?: string) => {
            code = exitCode;
            signal = exitSignal ?? null;
          });
          opened.on('error', (channelError: Error) => {
            settle(
              new ConnectionError(`SSH channel error on ${this.target}: ${channelError.message}`),
            );
          });
          opened.on('close', () => {
            if (this.closed) return onLost(new Error('closed'));
            const result: RunResult = {
              stdout: Buffer.concat(stdout).toString('utf8'),
              stderr: Buffer.concat(stderr).toString('utf8'),
              code,
              signal,
            };
            const { timeoutMs } = options;
            if (
              timeoutMs !== undefined &&
              code !== null &&
              TIMED_OUT_EXITS.includes(code) &&
              Date.now() - started >= timeoutMs
            ) {
              return settle(timedOut());
            }
            if (code === 0 || options.allowFailure) return settle(undefined, result);
            settle(this.commandError(command, result, viaSudo, tail.text(), what));
          });
          if (options.timeoutMs !== undefined) {
            // Safety net: the server's `timeout` should have ended the command well before this.
            timer = setTimeout(() => {
              settle(timedOut());
              opened.close();
            }, options.timeoutMs + TIMEOUT_SAFETY_MS);
          }
          if (options.stdin !== undefined) opened.end(options.stdin);
          else opened.end();
        });
      } catch (err) {
        // ssh2 throws synchronously when the socket is already gone.
        settle(connectionLostError(this.target, command, err instanceof Error ? err : undefined));
      }
    });
  }

  private commandError(
    command: string,
    result: RunResult,
    viaSudo: boolean,
    outputTail = OutputTail.of(result.stderr, result.stdout),
    what?: string,
  ): RemoteCommandError {
    const sudoFailure = viaSudo
      ? sudoError(this.username, this.host, command, result.code, outputTail)
      : undefined;
    if (sudoFailure) return sudoFailure;
    if (result.code === null) {
      return new RemoteCommandError(command, null, outputTail, {
        message: `remote command ${result.signal ? `killed by signal ${result.signal}` : 'ended without an exit status'}: ${command}${outputTail ? `\n${outputTail}` : ''}`,
      });
    }
    if (what) {
      return new RemoteCommandError(command, result.code, outputTail, {
        message: `${what} on ${this.target} (exit ${result.code})${outputTail ? `:\n${outputTail}` : ''}`,
      });
    }
    return new RemoteCommandError(command, result.code, outputTail);
  }
}

/** Shorthand for SshConnection.connect. */
export function connect(options: ConnectOptions): Promise<SshConnection> {
  return SshConnection.connect(options);
}

async function loadPrivateKey(options: ConnectOptions): Promise<string | undefined> {
  if (options.privateKey !== undefined) return options.privateKey.toString();
  if (!options.privateKeyPath) return undefined;
  try {
    return await readFile(options.privateKeyPath, 'utf8');
  } catch (err) {
    throw new ConnectionError(
      `cannot read the SSH key ${options.privateKeyPath}: ${(err as Error).message}`,
      {
        hint: 'check the path given with --identity (or TOSS_SSH_KEY)',
        cause: err,
      },
    );
  }
}

function describeOffered(options: ConnectOptions): string {
  const offered = [];
  if (options.privateKeyPath) offered.push(`the key ${options.privateKeyPath}`);
  else if (options.privateKey !== undefined) offered.push('the given key');
  if (options.agent) offered.push("ssh-agent's keys");
  return offered.join(' and ');
}
