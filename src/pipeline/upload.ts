import { type ChildProcess, spawn } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { TossError } from '../errors.js';
import type { TunnelResult } from '../remote/connection.js';
import { noFollowCommandLine } from '../server/no-follow.js';
import { buildRsyncArgv, parseTunnelFrame, tunnelRemoteShell } from '../server/rsync.js';
import type { Session } from './session.js';

const TAIL_LINES = 20;

export interface UploadParams {
  sourceDir: string;
  /** absolute release directory on the server */
  releaseDir: string;
  /** the live release, for --link-dest */
  linkDest?: string | undefined;
  /**
   * The releases directory both lie in: the remote rsync follows no symlink under it, so a link
   * a build left in the live release never makes rsync hard-link (and set the mode of) a file
   * outside it (see no-follow.ts).
   */
  confineTo: string;
  excludes: string[];
  /** the tree is what toss.json's `build` left: node_modules and git-ignored files go up too */
  built: boolean;
  /** stops rsync (the upload then fails) */
  signal?: AbortSignal | undefined;
}

/**
 * rsync through the session's own connection (its remote shell is a tunnel, see rsync.ts): no
 * second login, and the host key is the one the session verified.
 */
export async function uploadRelease(session: Session, params: UploadParams): Promise<void> {
  try {
    await rsyncRelease(session, params);
  } catch (error) {
    // Stopped on purpose (the lock was refused): no disk to look at.
    if (params.signal?.aborted) throw error;
    throw (await diskFull(session, params.releaseDir)) ?? error;
  }
}

/**
 * rsync does not always get its receiver's "No space left on device" across before it exits:
 * after a failed upload, look at the space left where the release was going.
 */
async function diskFull(session: Session, releaseDir: string): Promise<TossError | undefined> {
  const parent = releaseDir.slice(0, releaseDir.lastIndexOf('/')) || '/';
  const df = await session
    .root(['df', '-Pk', '--', parent], { allowFailure: true })
    .catch(() => undefined);
  const fields = df?.code === 0 ? df.stdout.trim().split('\n').at(-1)?.split(/\s+/) : undefined;
  const availableKb = Number(fields?.[3]);
  if (!Number.isFinite(availableKb) || availableKb >= 1024) return undefined;
  return new TossError(
    `the server's disk is full: ${availableKb} KiB left for ${parent}${fields?.[5] && fields[5] !== parent ? ` (on ${fields[5]})` : ''}; the upload failed and nothing live was touched`,
    {
      hint: 'free space on the server (old releases of other apps, logs: journalctl --vacuum-size=100M), then deploy again',
    },
  );
}

async function rsyncRelease(session: Session, params: UploadParams): Promise<void> {
  const sudo = !session.conn.isRoot;
  const argv = buildRsyncArgv({
    source: params.sourceDir,
    dest: params.releaseDir,
    remoteShell: tunnelRemoteShell(),
    linkDest: params.linkDest,
    excludes: params.excludes,
    built: params.built,
    sudo,
  });
  await runRsync(
    argv,
    sudo,
    (command, socket) =>
      session.conn.tunnel(noFollowCommandLine(params.confineTo, command, sudo), socket),
    params.signal,
  );
}

type Tunnel = (command: string, socket: Duplex) => Promise<TunnelResult>;

/**
 * Runs the local rsync with a socket as its fd 3, where its remote shell (tunnelRemoteShell)
 * names the command it wants and then carries the data: `tunnel` runs that command over the
 * session's connection. Resolves when rsync succeeded; otherwise says why, the server's side
 * included.
 */
export function runRsync(
  argv: string[],
  sudo: boolean,
  tunnel: Tunnel,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = argv as [string, ...string[]];
    const child = spawn(command, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      ...(signal ? { signal } : {}),
    });
    const run = new TunnelledRsync(child, sudo, tunnel);
    child.on('error', (error: NodeJS.ErrnoException) => {
      run.socket.destroy();
      reject(spawnFailure(error));
    });
    child.on('close', async (code, signal) => {
      run.socket.destroy();
      const server = await run.remote;
      if (run.failure) return reject(run.failure);
      const failure = rsyncFailure(code, signal, server, run.stderr);
      if (failure) reject(failure);
      else resolve();
    });
  });
}

/**
 * The local rsync's side of a run: its stderr, and its fd 3 socket, whose first bytes are the
 * frame naming the remote command; from then on the socket is the tunnel's.
 */
class TunnelledRsync {
  readonly socket: Duplex;
  /** the end of rsync's stderr */
  stderr = '';
  /** why the run was stopped from this side (a bad frame, the connection lost) */
  failure: Error | undefined;
  /** the server side's result, once the tunnel ran */
  remote: Promise<TunnelResult | undefined> = Promise.resolve(undefined);
  private frame = Buffer.alloc(0);

  constructor(
    private readonly child: ChildProcess,
    private readonly sudo: boolean,
    private readonly tunnel: Tunnel,
  ) {
    this.socket = child.stdio[3] as Duplex;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-8000);
    });
    this.socket.on('data', this.onFrame);
    // A socket error (rsync gone) shows as rsync's own failure.
    this.socket.on('error', () => {});
  }

  private readonly onFrame = (chunk: Buffer): void => {
    this.frame = Buffer.concat([this.frame, chunk]);
    let parsed: ReturnType<typeof parseTunnelFrame>;
    try {
      parsed = parseTunnelFrame(this.frame, this.sudo);
    } catch (error) {
      this.failure = error as Error;
      this.stop();
      return;
    }
    if (!parsed) return;
    this.socket.off('data', this.onFrame);
    this.socket.pause();
    if (parsed.rest.length > 0) this.socket.unshift(parsed.rest);
    this.remote = this.tunnel(parsed.command, this.socket).catch((error: Error) => {
      // The connection is gone: stop rsync rather than let it wait.
      this.failure ??= error;
      this.stop();
      return undefined;
    });
  };

  private stop(): void {
    this.socket.destroy();
    this.child.kill();
  }
}

function spawnFailure(error: NodeJS.ErrnoException): TossError {
  return new TossError(
    error.code === 'ENOENT' ? 'rsync is not installed on this machine' : `rsync: ${error.message}`,
    { hint: 'install rsync (apt-get install rsync, brew install rsync)' },
  );
}

/** Why the run failed, both sides' stderr included; undefined when both sides succeeded. */
function rsyncFailure(
  code: number | null,
  signal: NodeJS.Signals | null,
  server: TunnelResult | undefined,
  stderr: string,
): TossError | undefined {
  if (code === 0 && (server === undefined || server.code === 0)) return undefined;
  const tail = [server?.stderr.trim(), stderr.trim()]
    .filter(Boolean)
    .join('\n')
    .split('\n')
    .slice(-TAIL_LINES)
    .join('\n');
  const status =
    code !== 0 ? (signal ?? `exit ${code}`) : `server side exit ${server?.code ?? server?.signal}`;
  return new TossError(`rsync failed (${status})${tail ? `:\n${tail}` : ''}`, {
    hint: 'check that rsync is installed on the server and the disk is not full',
  });
}
