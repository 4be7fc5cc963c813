/**
 * ONE verified SSH connection to the server, reused for every remote step.
 *
 * Commands are argv arrays, turned into a line only by shellJoin (command-line.ts). Secret values
 * go on stdin (`stdin`, `runScript`, `writeFile`), never on a command line: `ps` on the server
 * shows command lines to every user. The login shell must be POSIX-like (sh, bash, dash, zsh).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import type { Client, ClientChannel, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { ConnectionError, RemoteCommandError } from '../errors.js';
import {
  buildCommandLine,
  MISSING_FILE_EXIT,
  parseReadFiles,
  readFileArgv,
  readFilesArgv,
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
import { CommandRunner, runnerArgv, runnerCarries } from './runner.js';
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
// Runners kept open at once: commands beyond run on channels of their own. sshd allows 10
// sessions per connection (MaxSessions) and streaming commands need theirs.
const MAX_RUNNERS = 4;

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

interface RunnerSlot {
  sudo: boolean;
  /** handed out to a command now (or being opened) */
  taken: boolean;
  runner?: CommandRunner;
}

interface RawResult {
  stdout: Buffer;
  stderr: Buffer;
  code: number | null;
  signal: string | null;
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
  // Long-lived command runners (runner.ts), as root (through sudo) or as the login user.
  private runners: RunnerSlot[] = [];

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
    return this.exec(argv, { cwd: options.cwd, timeoutMs: options.timeoutMs }, options, viaSudo);
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
    await this.exec(
      writeFileArgv(path, options.mode, options.owner),
      {},
      { stdin: contents },
      viaSudo,
      `could not write ${path}`,
    );
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
    if (this.disposed || this.closed) {
      return Promise.reject(connectionLostError(this.target, command, this.lastError));
    }
    return this.whileConnected(command, (settle) =>
      this.startChannel(command, settle, (opened) => {
        const stderr = new OutputTail();
        let code: number | null = null;
        let signal: string | null = null;
        opened.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        opened.on('exit', (exitCode: number | null, exitSignal?: string) => {
          code = exitCode;
          signal = exitSignal ?? null;
        });
        opened.on('error', (channelError: Error) =>
          settle(
            new ConnectionError(`SSH channel error on ${this.target}: ${channelError.message}`),
          ),
        );
        let channelClosed = false;
        opened.on('close', () => {
          channelClosed = true;
          local.end();
          if (this.closed) return settle(connectionLostError(this.target, command, this.lastError));
          settle(undefined, { code, signal, stderr: stderr.text() });
        });
        // The local side gone (rsync died): end the remote command too instead of leaving it.
        local.once('close', () => {
          if (!channelClosed) opened.close();
        });
        local.pipe(opened);
        opened.pipe(local);
      }),
    );
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

  /**
   * Runs argv (in `cwd`, under `timeout`) as root through sudo when `viaSudo`. `what` names the
   * operation in failure messages instead of the (long) command line.
   */
  private async exec(
    argv: readonly string[],
    line: { cwd?: string | undefined; timeoutMs?: number | undefined },
    options: RunOptions,
    viaSudo: boolean,
    what?: string,
  ): Promise<RunResult> {
    // What an exec channel runs; a runner of the right user runs the same line without the sudo.
    const command = buildCommandLine(argv, { ...line, sudo: viaSudo });
    const inner = viaSudo ? buildCommandLine(argv, line) : command;
    if (this.disposed) {
      throw new ConnectionError(
        `the SSH connection to ${this.target} is closed (dispose() was called)`,
      );
    }
    if (this.closed) throw connectionLostError(this.target, command, this.lastError);
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
    if (TRACE) trace(t0, pooled ? 'runner' : 'channel', raw.code, argv);
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
    throw this.commandError(command, result, viaSudo, raw.tail, what);
  }

  /**
   * Opens runners ahead of the commands that will use them (in the background: a failure here
   * shows up, if at all, on the command that needs the runner).
   */
  warmRunners(count: number, asRoot: boolean): void {
    const sudo = asRoot && !this.isRoot;
    for (let i = 0; i < count && this.runners.length < MAX_RUNNERS; i++) {
      const slot: RunnerSlot = { sudo, taken: true };
      this.runners.push(slot);
      this.openRunner(slot).then(
        () => {
          slot.taken = false;
        },
        () => {
          this.runners = this.runners.filter((s) => s !== slot);
        },
      );
    }
  }

  private async openRunner(slot: RunnerSlot): Promise<CommandRunner> {
    const command = buildCommandLine(runnerArgv(), { sudo: slot.sudo });
    slot.runner = await this.whileConnected<CommandRunner>(command, (settle) =>
      this.startChannel(command, settle, (opened) => settle(undefined, new CommandRunner(opened))),
    );
    return slot.runner;
  }

  /** An idle runner of the right kind, a new one while there is room, or none (use a channel). */
  private async takeRunner(viaSudo: boolean): Promise<CommandRunner | undefined> {
    for (const slot of this.runners) {
      if (slot.sudo === viaSudo && slot.runner?.usable && !slot.taken) {
        slot.taken = true;
        return slot.runner;
      }
    }
    this.runners = this.runners.filter((slot) => slot.taken || !slot.runner || slot.runner.usable);
    if (this.runners.length >= MAX_RUNNERS) return undefined;
    const slot: RunnerSlot = { sudo: viaSudo, taken: true };
    this.runners.push(slot);
    try {
      return await this.openRunner(slot);
    } catch (error) {
      this.runners = this.runners.filter((s) => s !== slot);
      throw error;
    }
  }

  private giveBack(runner: CommandRunner): void {
    const slot = this.runners.find((s) => s.runner === runner);
    if (slot) slot.taken = false;
    if (!runner.usable) this.runners = this.runners.filter((s) => s !== slot);
    else if (this.disposed) runner.close();
  }

  private async execInRunner(
    command: string,
    inner: string,
    options: RunOptions,
    viaSudo: boolean,
    timedOut: (code: number | null, tail: string) => Error,
  ): Promise<RawResult> {
    const runner = await this.takeRunner(viaSudo);
    if (!runner) return this.execInChannel(command, options, timedOut);
    // A runner can end while it is being handed out (`sudo -n` refused, say): the command then
    // runs on a channel of its own, which reports its own failure.
    if (!runner.usable) {
      this.giveBack(runner);
      return this.execInChannel(command, options, timedOut);
    }
    // Errors name `command`: what ran, sudo included, whichever way it went.
    try {
      return await this.whileConnected(command, (settle) => {
        let timer: NodeJS.Timeout | undefined;
        if (options.timeoutMs !== undefined) {
          // Safety net: the server's `timeout` should have ended the command well before this.
          timer = setTimeout(() => {
            runner.destroy();
            settle(timedOut(null, ''));
          }, options.timeoutMs + TIMEOUT_SAFETY_MS);
        }
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
      this.giveBack(runner);
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
            ? connectionLostError(this.target, command, this.lastError)
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
    if (this.closed)
      return Promise.reject(connectionLostError(this.target, command, this.lastError));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (err: Error | undefined, value?: T) => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(onLost);
        if (err) reject(err);
        else resolve(value as T);
      };
      const onLost = (err: Error) =>
        settle(this.disposed ? err : connectionLostError(this.target, command, this.lastError));
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
        let code: number | null = null;
        let signal: string | null = null;
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
        opened.on('exit', (exitCode: number | null, exitSignal?: string) => {
          code = exitCode;
          signal = exitSignal ?? null;
        });
        opened.on('error', (channelError: Error) => {
          if (timer) clearTimeout(timer);
          settle(
            new ConnectionError(`SSH channel error on ${this.target}: ${channelError.message}`),
          );
        });
        opened.on('close', () => {
          if (timer) clearTimeout(timer);
          if (this.closed) return settle(connectionLostError(this.target, command, this.lastError));
          settle(undefined, {
            stdout: Buffer.concat(stdout),
            stderr: Buffer.concat(stderr),
            code,
            signal,
            tail: tail.text(),
          });
        });
        if (options.timeoutMs !== undefined) {
          // Safety net: the server's `timeout` should have ended the command well before this.
          timer = setTimeout(() => {
            settle(timedOut(code, tail.text()));
            opened.close();
          }, options.timeoutMs + TIMEOUT_SAFETY_MS);
        }
        if (options.stdin !== undefined) opened.end(options.stdin);
        else opened.end();
      }),
    );
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
