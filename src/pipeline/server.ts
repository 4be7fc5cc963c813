/**
 * What the pipeline needs from a server, and nothing more: the one seam between the steps of a
 * deploy (or a removal, a rollback, a lock) and the SSH connection that carries them out. The
 * SSH session (session.ts) implements it for real servers; the unit tests hand the pipeline a
 * recording fake instead, so every step's remote commands can be checked without booting one.
 */
import { LockError } from '../errors.js';
import type { RunOptions, RunResult } from '../remote/connection.js';
import type { Registry } from '../server/registry.js';
import type { State } from '../server/state.js';
import type { Login } from './request.js';
import type { UploadParams } from './upload.js';

export type { RunOptions, RunResult } from '../remote/connection.js';
export type { UploadParams } from './upload.js';

/** How a command runs: as root, with its stdin, output callbacks and failure policy. */
export type RootRunOptions = Omit<RunOptions, 'sudo'>;

export interface Server {
  /** the app every path, unit and state file of this server connection belongs to */
  readonly app: string;
  /** whether the login user is root (otherwise root's commands go through `sudo -n`) */
  readonly isRoot: boolean;
  /** the lock token this run holds, while it holds the app's lock */
  readonly lockToken: string | undefined;

  /** A command as root. */
  root(argv: readonly string[], options?: RootRunOptions): Promise<RunResult>;
  /** A command as root that runs only while this run holds the app's lock (LockError if not). */
  guarded(argv: string[], options?: RootRunOptions): Promise<RunResult>;
  /** Several guarded commands in one round trip, each only if the one before succeeded. */
  batch(argvs: string[][], options?: RootRunOptions): Promise<RunResult>;
  /**
   * A long guarded command (a transient unit) that does not hold state.json's flock while it
   * runs; its exit code is returned, a start refused for a lost lock throws the LockError.
   */
  guardedStart(
    argv: string[],
    options?: Omit<RunOptions, 'sudo' | 'allowFailure'>,
  ): Promise<RunResult>;
  /**
   * Cleanup after a failed step: every command whatever the others exit with, in one round trip,
   * only while this run holds the lock. False when the lock was lost and nothing ran.
   */
  cleanUpAsHolder(argvs: string[][]): Promise<boolean>;
  /** Several files at once, as root; null for each one that does not exist. */
  readFiles(paths: readonly string[]): Promise<(string | null)[]>;
  /** rsync of a local directory into a directory on the server, over this connection. */
  upload(params: UploadParams): Promise<void>;

  /** state.json, or undefined before the app's first deploy. */
  readState(): Promise<State | undefined>;
  /** Read-modify-write of state.json by compare-and-swap; `change` may run more than once. */
  updateState(change: (state: State | undefined) => State): Promise<State>;
  /** The same, only while this run holds the lock (LockError if not). */
  updateStateAsHolder(change: (state: State) => State): Promise<State>;
  readRegistry(): Promise<Registry>;
  updateRegistry(change: (registry: Registry) => Registry): Promise<Registry>;

  /** From now on guarded commands carry this token (the lock was taken with it). */
  holdLock(token: string): void;
  /** The lock is released or lost: guarded commands refuse to run. */
  dropLock(): void;
  close(): Promise<void>;
}

/** Opens the connection to a server for one app; the SSH session's `Session.open` by default. */
export type OpenServer = (login: Login, app: string) => Promise<Server>;

/** What every guarded step throws once this run no longer holds the app's lock. */
export function lockLost(): LockError {
  return new LockError(
    'this run no longer holds the lock (it was broken or released); nothing more was changed',
    {
      hint: 'another run took over; check `toss lock status` and deploy again',
    },
  );
}
