import { spawn } from 'node:child_process';
import { TossError } from '../errors.js';
import { buildRsyncArgv, sshArgvForRsync } from '../server/rsync.js';
import type { Session } from './session.js';
import { HOST_KEY_ALIAS, withSshFiles } from './ssh-files.js';

const TAIL_LINES = 20;

export interface UploadParams {
  sourceDir: string;
  /** absolute release directory on the server */
  releaseDir: string;
  /** the live release, for --link-dest */
  linkDest?: string | undefined;
  excludes: string[];
}

/**
 * rsync over the system ssh with exactly the host key the session verified, the same identity,
 * no user ssh config: the one extra login a deploy makes.
 */
export async function uploadRelease(session: Session, params: UploadParams): Promise<void> {
  try {
    await rsyncRelease(session, params);
  } catch (error) {
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
  const { login, conn } = session;
  await withSshFiles(session, (files) =>
    runLocal(
      buildRsyncArgv({
        source: params.sourceDir,
        dest: { user: login.user, host: login.host, path: params.releaseDir },
        sshCommand: sshArgvForRsync({
          port: login.port,
          identityFile: files.identityFile,
          knownHostsFile: files.knownHostsFile,
          hostKeyAlias: HOST_KEY_ALIAS,
        }),
        linkDest: params.linkDest,
        excludes: params.excludes,
        sudo: !conn.isRoot,
      }),
    ),
  );
}

function runLocal(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = argv as [string, ...string[]];
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-8000);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        new TossError(
          error.code === 'ENOENT'
            ? 'rsync is not installed on this machine'
            : `rsync: ${error.message}`,
          { hint: 'install rsync (apt-get install rsync, brew install rsync)' },
        ),
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const tail = stderr.trim().split('\n').slice(-TAIL_LINES).join('\n');
      reject(
        new TossError(`rsync failed (${signal ?? `exit ${code}`})${tail ? `:\n${tail}` : ''}`, {
          hint: 'check that rsync is installed on the server and the disk is not full',
        }),
      );
    });
  });
}
