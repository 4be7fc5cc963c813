/**
 * ONE verified SSH connection to the server, reused for every remote step.
 *
 * Commands are argv arrays, turned into a line only by shellJoin (command-line.ts). Secret values
 * go on stdin (`stdin`), never on a command line: `ps` on the server shows command lines to every
 * user. The login shell must be POSIX-like (sh, bash, dash, zsh).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import type {
  AuthenticationType,
  AuthHandlerMiddleware,
  Client,
  ClientChannel,
  ConnectConfig,
  ServerHostKeyAlgorithm,
} from 'ssh2';
import { ConnectionError, RemoteCommandError } from '../errors.js';
import {
  buildCommandLine,
  MISSING_FILE_EXIT,
  parseReadFiles,
  readFileArgv,
  readFilesArgv,
  TIMED_OUT_EXITS,
} from './command-line.js';
import { CommandRunner, type RunnerResult, runnerArgv, runnerCarries } from './command-runner.js';
import type { Dialled } from './dial.js';
import {
  decideHostKey,
  type HostKeyRefusedError,
  type HostTrust,
  hostKeyAlgorithms,
  noCommonKeyTypeError,
  type VerifiedHostKey,
} from './host-key-policy.js';
import { findHostKeys, type HostKeyLookup } from './known-hosts.js';
import { OutputTail } from './output-tail.js';
import { RunnerPool } from './runner-pool.js';
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
  /** gives up connecting (the socket goes at once); a connection already made is not touched */
  signal?: AbortSignal;
  /**
   * Authentication waits for this: the TCP connection, the key exchange and the host key check
   * go ahead, no key is offered until it resolves (and none ever when it rejects). Nothing is a
   * login before that, on the server or in its logs.
   */
  authGate?: Promise<void>;
  /** the TCP connection to host:port already under way (dial.ts); the handshake starts on it */
  dialled?: Dialled;
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

const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
const DEFAULT_KEEPALIVE_INTERVAL_MS = 5_000;
const DEFAULT_KEEPALIVE_COUNT_MAX = 2;
// How long past timeoutMs (and timeout's own KILL) to wait before giving up on the channel.
const TIMEOUT_SAFETY_MS = 10_000;
// How long dispose() waits for a clean SSH disconnect before dropping the socket.
const DISPOSE_GRACE_MS = 2_000;

// TOSS_TRACE=1: one line on stderr per remote command (when it started, how long it took, how it
// went, what it was), for finding where a deploy spends its time.
const TRACE = process.env.TOSS_TRACE === '1';

function trace(started: number, via: string, code: number | null, argv: readonly string[]): void {
  const words = argv.map((w) => w.replace(/\s+/g, ' ')).join(' ');
  const shown = words.length > 140 ? `${words.slice(0, 60)} … ${words.slice(-75)}` : words;
  const at = (started / 1000).toFixed(3);
  const took = ((performance.now() - started) / 1000).toFixed(3);
  process.stderr.write(`toss-trace: +${at} ${took} ${via} exit ${code ?? '-'}: ${shown}\n`);
}

export interface TunnelResult {
  code: number | null;
  signal: string | null;
  /** the last lines the remote command wrote to stderr */
  stderr: string;
}

/** A command's output and exit as they came, from a runner or a channel of its own. */
interface RawResult extends RunnerResult {
  /** the last lines of output, for messages */
  tail: string;
}

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
  // Long-lived command runners, as root (through sudo) or as the login user.
  private readonly runners = new RunnerPool((sudo) => this.openRunner(sudo));

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
        : this.lostError(undefined);
      for (const fail of this.inFlight) fail(err);
      this.inFlight.clear();
    });
  }

  /** Open and verify the connection. Throws HostKeyError, or ConnectionError saying what to do. */
  static async connect(options: ConnectOptions): Promise<SshConnection> {
    const { dialled } = options;
    let target: ConnectTarget;
    let privateKey: string | undefined;
    try {
      target = connectTarget(options);
      privateKey = await loadPrivateKey(options);
      options.signal?.throwIfAborted();
    } catch (err) {
      dialled?.take()?.destroy();
      throw err;
    }
    const hostKeys = new HostKeyCheck(options, target.port);
    const ssh = new NodeSSH();
    const giveUp = () => ssh.connection?.destroy();
    options.signal?.addEventListener('abort', giveUp, { once: true });
    try {
      const config = connectConfig(options, target, privateKey, hostKeys);
      // Taken only now: from here to ssh2's listeners on it nothing waits, so an error the socket
      // meets is either seen by take() (ssh2 then makes a connection of its own) or by ssh2.
      const sock = dialled?.take();
      if (sock && dialled?.host === target.host && dialled.port === target.port) config.sock = sock;
      else sock?.destroy();
      const connecting = ssh.connect(config);
      // From the first packet: the handshake and login are five request/response exchanges, and
      // with Nagle's algorithm against the server's delayed ACKs each waited ~40 ms (240 ms to
      // log in on a LAN, 80 ms without). node-ssh makes its client and socket synchronously.
      ssh.connection?.setNoDelay(true);
      await connecting;
    } catch (err) {
      ssh.connection?.destroy();
      if (options.signal?.aborted) throw options.signal.reason;
      throw hostKeys.refusal ?? connectFailure(err, hostKeys.lookup, target);
    } finally {
      options.signal?.removeEventListener('abort', giveUp);
    }
    const client = ssh.connection;
    const verified = hostKeys.verified;
    if (!client || !verified) {
      ssh.dispose();
      throw new ConnectionError(
        `SSH connection to ${describeTarget(target.username, target.host, target.port)} closed at once`,
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
    return this.exec(argv, options, viaSudo);
  }

  /** Run argv as root (through `sudo -n` when the login user is not root). */
  runAsRoot(argv: readonly string[], options: Omit<RunOptions, 'sudo'> = {}): Promise<RunResult> {
    return this.run(argv, { ...options, sudo: true });
  }

  /** Fail early, before anything changes, when the login user has no passwordless sudo. */
  async checkSudo(): Promise<void> {
    if (this.isRoot) return;
    await this.run(['true'], { sudo: true });
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

  /** Several files as root (UTF-8) in one command; null for each that does not exist. */
  async readFilesIfExist(paths: readonly string[]): Promise<(string | null)[]> {
    const marker = randomBytes(16).toString('hex');
    const argv = readFilesArgv(paths);
    const result = await this.run(argv, { sudo: true, stdin: `${marker}\n` });
    const files = parseReadFiles(result.stdout, marker, paths.length);
    if (files === undefined) {
      throw new RemoteCommandError(buildCommandLine(argv), result.code, result.stderr, {
        message: `could not read ${paths.join(', ')} on ${this.target}: the output was cut short`,
      });
    }
    return files;
  }

  /**
   * Runs `command` exactly as given (rsync's own server command line) with its stdin and stdout
   * joined to `local`, both ways; resolves with its exit once the channel closes, after ending
   * `local`. The one place a command line is not built from argv here: the caller checks it.
   */
  tunnel(command: string, local: Duplex): Promise<TunnelResult> {
    if (this.disposed || this.closed) return Promise.reject(this.lostError(command));
    const t0 = performance.now();
    const settled = this.whileConnected<TunnelResult>(command, (settle) =>
      this.startChannel(command, settle, (opened) => {
        const stderr = new OutputTail();
        const exit = exitOf(opened);
        opened.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        opened.on('error', (channelError: Error) => settle(this.channelError(channelError)));
        let channelClosed = false;
        opened.on('close', () => {
          channelClosed = true;
          local.end();
          if (this.closed) return settle(this.lostError(command));
          settle(undefined, { ...exit, stderr: stderr.text() });
        });
        // The local side gone (rsync died): end the remote command too instead of leaving it.
        local.once('close', () => {
          if (!channelClosed) opened.close();
        });
        local.pipe(opened);
        opened.pipe(local);
      }),
    );
    if (!TRACE) return settled;
    return settled.then((result) => {
      trace(t0, `tunnel ${this.host}`, result.code, [command]);
      return result;
    });
  }

  /** Close the connection; safe to call more than once and after the connection dropped. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.runners.dispose();
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

  /**
   * Opens runners ahead of the commands that will use them (in the background: a failure here
   * shows up, if at all, on the command that needs the runner).
   */
  warmRunners(count: number, asRoot: boolean): void {
    this.runners.warm(count, asRoot && !this.isRoot);
  }

  /** Runs argv (in options.cwd, under `timeout`) as root through sudo when `viaSudo`. */
  private async exec(
    argv: readonly string[],
    options: RunOptions,
    viaSudo: boolean,
  ): Promise<RunResult> {
    const line = { cwd: options.cwd, timeoutMs: options.timeoutMs };
    // What an exec channel runs; a runner of the right user runs the same line without the sudo.
    const command = buildCommandLine(argv, { ...line, sudo: viaSudo });
    const inner = viaSudo ? buildCommandLine(argv, line) : command;
    if (this.disposed) {
      throw new ConnectionError(
        `the SSH connection to ${this.target} is closed (dispose() was called)`,
      );
    }
    if (this.closed) throw this.lostError(command);
    const started = Date.now();
    const timedOut = (code: number | null, tail: string) =>
      new RemoteCommandError(command, code, tail, {
        message: `timed out after ${(options.timeoutMs ?? 0) / 1000} s: ${command}`,
      });
    // Commands go through a runner when the protocol can carry their stdin; the rest get a
    // channel of their own.
    const pooled = runnerCarries(inner, options.stdin);
    const t0 = TRACE ? performance.now() : 0;
    const raw = pooled
      ? await this.execInRunner(command, inner, options, viaSudo, timedOut)
      : await this.execInChannel(command, options, timedOut);
    if (TRACE) trace(t0, `${pooled ? 'runner' : 'channel'} ${this.host}`, raw.code, argv);
    const result: RunResult = {
      stdout: raw.stdout.toString('utf8'),
      stderr: raw.stderr.toString('utf8'),
      code: raw.code,
      signal: raw.signal,
    };
    const { timeoutMs } = options;
    if (
      timeoutMs !== undefined &&
      result.code !== null &&
      TIMED_OUT_EXITS.includes(result.code) &&
      Date.now() - started >= timeoutMs
    ) {
      throw timedOut(result.code, OutputTail.of(result.stderr, result.stdout));
    }
    if (result.code === 0 || options.allowFailure) return result;
    throw this.commandError(command, result, viaSudo, raw.tail);
  }

  /** Opens a runner on a channel of its own, through `sudo -n` when `sudo`. */
  private openRunner(sudo: boolean): Promise<CommandRunner> {
    const command = buildCommandLine(runnerArgv(), { sudo });
    return this.whileConnected<CommandRunner>(command, (settle) =>
      this.startChannel(command, settle, (opened) => settle(undefined, new CommandRunner(opened))),
    );
  }

  private async execInRunner(
    command: string,
    inner: string,
    options: RunOptions,
    viaSudo: boolean,
    timedOut: (code: number | null, tail: string) => Error,
  ): Promise<RawResult> {
    const runner = await this.runners.take(viaSudo);
    if (!runner) return this.execInChannel(command, options, timedOut);
    // A runner can end while it is being handed out (`sudo -n` refused, say): the command then
    // runs on a channel of its own, which reports its own failure.
    if (!runner.usable) {
      this.runners.giveBack(runner);
      return this.execInChannel(command, options, timedOut);
    }
    // Errors name `command`: what ran, sudo included, whichever way it went.
    try {
      return await this.whileConnected(command, (settle) => {
        const timer = safetyTimer(options.timeoutMs, () => {
          runner.destroy();
          settle(timedOut(null, ''));
        });
        const listeners = { onStdout: options.onStdout, onStderr: options.onStderr };
        runner.run(inner, options.stdin, listeners).then((r) => {
          if (timer) clearTimeout(timer);
          settle(undefined, {
            ...r,
            // Output order is lost in a runner: stderr last, where a failure says why.
            tail: OutputTail.of(r.stdout.toString('utf8'), r.stderr.toString('utf8')),
          });
        });
      });
    } finally {
      this.runners.giveBack(runner);
    }
  }

  /**
   * Starts an exec channel for `command` and hands it to `onOpen` at once (ssh2 emits 'exit' and
   * 'close' only once: listeners must be on before the next tick); a refusal or a dead connection
   * goes to `fail` as a clear error.
   */
  private startChannel(
    command: string,
    fail: (err: Error) => void,
    onOpen: (opened: ClientChannel) => void,
  ): void {
    try {
      this.client.exec(command, (err, opened) => {
        if (!err) return onOpen(opened);
        fail(
          this.closed
            ? this.lostError(command)
            : new ConnectionError(`could not start a command on ${this.target}: ${err.message}`, {
                hint: 'the server refused a new session (sshd MaxSessions?); try again',
                cause: err,
              }),
        );
      });
    } catch (err) {
      // ssh2 throws synchronously when the socket is already gone.
      fail(connectionLostError(this.target, command, err instanceof Error ? err : undefined));
    }
  }

  /**
   * Runs `body` until it settles, or fails it at once when the connection drops (its callbacks
   * may never come then).
   */
  private whileConnected<T>(
    command: string,
    body: (settle: (err: Error | undefined, value?: T) => void) => void,
  ): Promise<T> {
    if (this.closed) return Promise.reject(this.lostError(command));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (err: Error | undefined, value?: T) => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(onLost);
        if (err) reject(err);
        else resolve(value as T);
      };
      const onLost = (err: Error) => settle(this.disposed ? err : this.lostError(command));
      this.inFlight.add(onLost);
      body(settle);
    });
  }

  /** A command on an exec channel of its own (streaming output, big stdin, long runs). */
  private execInChannel(
    command: string,
    options: RunOptions,
    timedOut: (code: number | null, tail: string) => Error,
  ): Promise<RawResult> {
    return this.whileConnected(command, (settle) =>
      this.startChannel(command, settle, (opened) => {
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        const tail = new OutputTail();
        const exit = exitOf(opened);
        let timer: NodeJS.Timeout | undefined;
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
        opened.on('error', (channelError: Error) => {
          if (timer) clearTimeout(timer);
          settle(this.channelError(channelError));
        });
        opened.on('close', () => {
          if (timer) clearTimeout(timer);
          if (this.closed) return settle(this.lostError(command));
          const output = { stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
          settle(undefined, { ...output, ...exit, tail: tail.text() });
        });
        timer = safetyTimer(options.timeoutMs, () => {
          settle(timedOut(exit.code, tail.text()));
          opened.close();
        });
        if (options.stdin !== undefined) opened.end(options.stdin);
        else opened.end();
      }),
    );
  }

  /** The connection went away (while running `command`, when there is one). */
  private lostError(command: string | undefined): ConnectionError {
    return connectionLostError(this.target, command, this.lastError);
  }

  private channelError(error: Error): ConnectionError {
    return new ConnectionError(`SSH channel error on ${this.target}: ${error.message}`);
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

/** Who logs in where, with what, for the attempt and its messages; refuses a login without a key. */
function connectTarget(options: ConnectOptions): ConnectTarget {
  const port = options.port ?? 22;
  const username = options.username ?? 'root';
  if (options.privateKey === undefined && !options.privateKeyPath && !options.agent) {
    throw new ConnectionError(
      `no SSH key to log in to ${describeTarget(username, options.host, port)}`,
      {
        hint: 'start ssh-agent with your key loaded, or pass a key file with --identity PATH (or TOSS_SSH_KEY)',
      },
    );
  }
  return {
    host: options.host,
    port,
    username,
    keyPath: options.privateKeyPath,
    agent: options.agent,
    offered: describeOffered(options),
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
  };
}

/**
 * The host key check of one connection attempt: what known_hosts lists for the host, and what
 * the handshake made of the key the server presented (verified, or refused and why).
 */
class HostKeyCheck {
  readonly lookup: HostKeyLookup;
  /** the host key algorithms to offer; undefined leaves ssh2's default order */
  readonly algorithms: string[] | undefined;
  verified: VerifiedHostKey | undefined;
  refusal: HostKeyRefusedError | undefined;

  /** Throws when known_hosts lists only key types ssh2 cannot verify for this host. */
  constructor(
    private readonly options: ConnectOptions,
    private readonly port: number,
  ) {
    this.lookup = findHostKeys(options.knownHosts, options.host, port);
    this.algorithms = hostKeyAlgorithms(this.lookup);
    if (this.algorithms !== undefined && this.algorithms.length === 0) {
      throw noCommonKeyTypeError(this.lookup, options.host, port);
    }
  }

  /** ssh2's hostVerifier: whether to go on with the key the server presented. */
  verify(key: Buffer): boolean {
    // A re-key must present the very key verified at connect time.
    if (this.verified) return this.verified.blob.equals(key);
    const decision = decideHostKey({
      host: this.options.host,
      port: this.port,
      lookup: this.lookup,
      presented: key,
      trust: this.options.trust,
    });
    if (decision.ok) this.verified = decision.key;
    else this.refusal = decision.error;
    return decision.ok;
  }
}

/** ssh2's settings for the attempt: where, who, which key, how long to wait, which host keys. */
function connectConfig(
  options: ConnectOptions,
  target: ConnectTarget,
  privateKey: string | undefined,
  hostKeys: HostKeyCheck,
): ConnectConfig & { privateKey?: string } {
  const config: ConnectConfig & { privateKey?: string } = {
    host: target.host,
    port: target.port,
    username: target.username,
    hostVerifier: (key: Buffer) => hostKeys.verify(key),
    readyTimeout: target.connectTimeoutMs,
    keepaliveInterval: options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
    keepaliveCountMax: options.keepaliveCountMax ?? DEFAULT_KEEPALIVE_COUNT_MAX,
    tryKeyboard: false,
  };
  if (privateKey !== undefined) config.privateKey = privateKey;
  if (options.passphrase !== undefined) config.passphrase = options.passphrase;
  if (options.agent) config.agent = options.agent;
  config.authHandler = keyFirstAuth(options.authGate, privateKey, options.agent);
  // The server must present a key of a type we know for it, not just its favourite one.
  const { algorithms } = hostKeys;
  if (algorithms) config.algorithms = { serverHostKey: algorithms as ServerHostKeyAlgorithm[] };
  return config;
}

/**
 * The key, then the agent: ssh2 on its own first asks with method `none`, which only learns what
 * the server allows, one round trip before every login (RFC 4252 lets a client start with any
 * method). With `gate`, each is asked for only once it resolved; when it rejects, none at all
 * (ssh2 then ends the connection).
 */
function keyFirstAuth(
  gate: Promise<void> | undefined,
  privateKey: string | undefined,
  agent: string | undefined,
): AuthHandlerMiddleware {
  const methods: AuthenticationType[] = [];
  if (privateKey !== undefined) methods.push('publickey');
  if (agent) methods.push('agent');
  let next = 0;
  return (_left, _partial, callback) => {
    // ssh2 takes `false` for "no method left" (client.js, doNextAuth); its types omit it.
    const answer = callback as (next: AuthenticationType | false) => void;
    const ask = () =>
      answer(next < methods.length ? (methods[next++] as AuthenticationType) : false);
    if (gate === undefined) return ask();
    gate.then(ask, () => answer(false));
  };
}

/** The error for a failed connect or handshake that was not a refused host key. */
function connectFailure(err: unknown, lookup: HostKeyLookup, target: ConnectTarget): Error {
  if (err instanceof Error && /no matching host key format/.test(err.message)) {
    return noCommonKeyTypeError(lookup, target.host, target.port);
  }
  return connectError(err, target);
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

/** How a channel's command ended, filled in when its 'exit' comes (before its 'close'). */
function exitOf(opened: ClientChannel): Pick<RunResult, 'code' | 'signal'> {
  const exit: Pick<RunResult, 'code' | 'signal'> = { code: null, signal: null };
  opened.on('exit', (exitCode: number | null, exitSignal?: string) => {
    exit.code = exitCode;
    exit.signal = exitSignal ?? null;
  });
  return exit;
}

/**
 * The local safety net for a command run under `timeout` on the server: the server should have
 * ended the command well before this fires. None when the command has no time limit.
 */
function safetyTimer(
  timeoutMs: number | undefined,
  onTimeout: () => void,
): NodeJS.Timeout | undefined {
  if (timeoutMs === undefined) return undefined;
  return setTimeout(onTimeout, timeoutMs + TIMEOUT_SAFETY_MS);
}
