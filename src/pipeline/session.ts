import { RemoteCommandError, TossError } from '../errors.js';
import type { RunOptions, RunResult, SshConnection } from '../remote/connection.js';
import type { HostTrust } from '../remote/host-key-policy.js';
import { connectLogin } from '../remote/login.js';
import { shellJoin } from '../remote/quote.js';
import {
  ABSENT,
  CAS_CONFLICT_EXIT,
  casWriteArgv,
  guardedArgv,
  guardedStartArgv,
  parseReadWithSha,
  readWithShaArgv,
  sha256Hex,
  TOKEN_MISMATCH_EXIT,
} from '../server/cas.js';
import { isOwnLock } from '../server/lock.js';
import { appPaths, REGISTRY_FILE, REGISTRY_LOCK_FILE } from '../server/paths.js';
import { parseRegistry, type Registry, serializeRegistry } from '../server/registry.js';
import { parseState, type State, serializeState } from '../server/state.js';
import type { Login } from './request.js';
import { lockLost, type OpenServer, type RootRunOptions, type Server } from './server.js';
import { type UploadParams, uploadRelease } from './upload.js';

const CAS_ATTEMPTS = 20;

/** A versioned read: the parsed value and the checksum a compare-and-swap must match. */
interface Versioned<T> {
  value: T;
  sha: string;
}

/**
 * One SSH connection to the server plus the app's coordinates: the real `Server` every remote
 * step of a run goes through. Holds the lock token while the run holds the lock, so guarded
 * steps can check it.
 */
export class Session implements Server {
  private token: string | undefined;
  // The last content (and its sha) this session read or wrote, per file: a compare-and-swap can
  // start from it and skip a read; a conflict falls back to reading.
  private readonly known = new Map<string, { sha: string; content: string | null }>();

  private constructor(
    readonly conn: SshConnection,
    readonly app: string,
    readonly login: Login,
  ) {}

  /** `trust` is for `toss init` only: accept a host known_hosts does not list yet. */
  static async open(
    login: Login,
    app: string,
    trust?: HostTrust,
    signal?: AbortSignal,
  ): Promise<Session> {
    return Session.adopt(await connectLogin(login, { trust, signal }), login, app);
  }

  /** A session over a connection connectLogin made (the CLI's deploy starts it early). */
  static async adopt(conn: SshConnection, login: Login, app: string): Promise<Session> {
    const session = new Session(conn, app, login);
    if (!conn.isRoot) {
      try {
        await conn.checkSudo();
      } catch (error) {
        await conn.dispose();
        throw error;
      }
    }
    return session;
  }

  get paths() {
    return appPaths(this.app);
  }

  get isRoot(): boolean {
    return this.conn.isRoot;
  }

  get lockToken(): string | undefined {
    return this.token;
  }

  holdLock(token: string): void {
    this.token = token;
  }

  dropLock(): void {
    this.token = undefined;
  }

  /** A command as root (sudo -n when the login user is not root). */
  root(argv: readonly string[], options: RootRunOptions = {}): Promise<RunResult> {
    return this.conn.runAsRoot(argv, options);
  }

  readFiles(paths: readonly string[]): Promise<(string | null)[]> {
    return this.conn.readFilesIfExist(paths);
  }

  upload(params: UploadParams): Promise<void> {
    return uploadRelease(this, params);
  }

  /** A command as root that runs only while this run still holds the app's lock. */
  async guarded(argv: string[], options: RootRunOptions = {}): Promise<RunResult> {
    if (this.token === undefined) throw new TossError('internal: guarded step without the lock');
    const { stateFile, stateLockFile } = this.paths;
    try {
      return await this.root(
        guardedArgv({ stateFile, lockFile: stateLockFile, token: this.token }, argv),
        options,
      );
    } catch (error) {
      if (error instanceof RemoteCommandError && error.exitCode === TOKEN_MISMATCH_EXIT) {
        throw lockLost();
      }
      throw error;
    }
  }

  /**
   * Several guarded commands in one round trip, each run only if the one before succeeded.
   * stdin goes to the chain: only one of the commands may read it.
   */
  batch(argvs: string[][], options: RootRunOptions = {}): Promise<RunResult> {
    if (argvs.length === 1) return this.guarded(argvs[0]!, options);
    return this.guarded(['sh', '-c', argvs.map((argv) => shellJoin(argv)).join(' && ')], options);
  }

  /**
   * A long step (a transient unit that may run for minutes): starts only while this run holds the
   * lock, but does not keep state.json's flock while it runs, so heartbeats and other clients
   * are not blocked. Breaking the lock stops the unit. Exit codes are returned as with
   * `allowFailure`; a start refused for a lost lock throws the LockError.
   */
  async guardedStart(argv: string[], options: Omit<RunOptions, 'sudo' | 'allowFailure'> = {}) {
    if (this.token === undefined) throw new TossError('internal: guarded step without the lock');
    const { stateFile, stateLockFile } = this.paths;
    const result = await this.root(
      guardedStartArgv({ stateFile, lockFile: stateLockFile, token: this.token }, argv),
      { ...options, allowFailure: true },
    );
    // The command itself may exit 76 too: only a lock we no longer hold makes it a LockError.
    if (
      result.code === TOKEN_MISMATCH_EXIT &&
      !isOwnLock((await this.readState())?.lock, this.token)
    ) {
      throw lockLost();
    }
    return result;
  }

  /**
   * Cleanup after a failed step (stop what this run started, remove what it made): every command,
   * one after another whatever each exits with, in one round trip, only while this run still holds
   * the lock: once it was broken, the port this run started on and the environment's units may be
   * the new holder's. False when the lock was lost and nothing ran.
   */
  async cleanUpAsHolder(argvs: string[][]): Promise<boolean> {
    const token = this.token;
    if (token === undefined) return false;
    if (argvs.length === 0) return true;
    const chain =
      argvs.length === 1
        ? argvs[0]!
        : ['sh', '-c', argvs.map((argv) => shellJoin(argv)).join('; ')];
    const result = await this.guarded(chain, { allowFailure: true });
    // The last command may exit 76 too: only a lock we no longer hold means nothing ran.
    return !(
      result.code === TOKEN_MISMATCH_EXIT && !isOwnLock((await this.readState())?.lock, token)
    );
  }

  private async readVersioned<T>(
    file: string,
    lockFile: string,
    parse: (text: string | null) => T,
  ): Promise<Versioned<T>> {
    const { stdout } = await this.root(readWithShaArgv(file, lockFile));
    const { sha, content } = parseReadWithSha(stdout);
    this.known.set(file, { sha, content });
    return { value: parse(content), sha };
  }

  /** Read-modify-write by compare-and-swap; `change` may run again after a conflict. */
  private async update<T>(
    file: string,
    lockFile: string,
    parse: (text: string | null) => T,
    serialize: (value: T) => string,
    change: (current: T) => T,
  ): Promise<T> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const cached = attempt === 0 ? this.known.get(file) : undefined;
      const current = cached
        ? { value: parse(cached.content), sha: cached.sha }
        : await this.readVersioned(file, lockFile, parse);
      const next = change(current.value);
      const content = serialize(next);
      if (current.sha !== ABSENT && content === serialize(current.value)) {
        if (cached === undefined) return next;
        // Nothing to write judging by a possibly stale copy: check against the file itself.
        this.known.delete(file);
        continue;
      }
      const { argv, stdin } = casWriteArgv({ file, lockFile, expectedSha: current.sha, content });
      const result = await this.root(argv, { stdin, allowFailure: true });
      if (result.code === 0) {
        this.known.set(file, { sha: sha256Hex(content), content });
        return next;
      }
      this.known.delete(file);
      if (result.code !== CAS_CONFLICT_EXIT) {
        throw new RemoteCommandError(`write ${file}`, result.code, result.stderr.trim());
      }
    }
    throw new TossError(`${file} kept changing while toss tried to update it`, {
      hint: 'another toss run is updating this server; try again',
    });
  }

  /** state.json, or undefined before the first deploy. */
  async readState(): Promise<State | undefined> {
    const { stateFile, stateLockFile } = this.paths;
    return (await this.readVersioned(stateFile, stateLockFile, (t) => parseState(t, stateFile)))
      .value;
  }

  /** Changes state.json; `change` receives undefined when there is none yet. */
  updateState(change: (state: State | undefined) => State): Promise<State> {
    const { stateFile, stateLockFile } = this.paths;
    return this.update<State | undefined>(
      stateFile,
      stateLockFile,
      (t) => parseState(t, stateFile),
      (s) => (s === undefined ? '' : serializeState(s)),
      change,
    ) as Promise<State>;
  }

  /** Changes state.json only while this run holds the lock. */
  updateStateAsHolder(change: (state: State) => State): Promise<State> {
    return this.updateState((state) => {
      const token = this.token;
      if (state === undefined || token === undefined || !isOwnLock(state.lock, token)) {
        throw lockLost();
      }
      return change(state);
    });
  }

  async readRegistry(): Promise<Registry> {
    return (
      await this.readVersioned(REGISTRY_FILE, REGISTRY_LOCK_FILE, (t) =>
        parseRegistry(t, REGISTRY_FILE),
      )
    ).value;
  }

  updateRegistry(change: (registry: Registry) => Registry): Promise<Registry> {
    return this.update(
      REGISTRY_FILE,
      REGISTRY_LOCK_FILE,
      (t) => parseRegistry(t, REGISTRY_FILE),
      serializeRegistry,
      change,
    );
  }

  async close(): Promise<void> {
    await this.conn.dispose();
  }
}

/** The server a request names, through its own `connect` when it has one (tests), else SSH. */
export function openServer(
  request: { login: Login; connect?: OpenServer | undefined },
  app: string,
): Promise<Server> {
  return (request.connect ?? Session.open)(request.login, app);
}
