import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Session } from './session.js';

/** The system ssh finds the verified key under this name, whatever form the host was given in. */
export const HOST_KEY_ALIAS = 'toss-server';

export interface SshFiles {
  /** known_hosts holding exactly the key this session verified, under HOST_KEY_ALIAS */
  knownHostsFile: string;
  /** the login's key as a file (written here when it only came as text) */
  identityFile: string | undefined;
}

/**
 * Gives the system ssh of `toss ssh` the same trust and identity as the session, in
 * 0600 temp files that are removed once `body` is done.
 */
export async function withSshFiles<T>(
  session: Session,
  body: (files: SshFiles) => Promise<T>,
): Promise<T> {
  const { login, conn } = session;
  const dir = await mkdtemp(join(tmpdir(), 'toss-ssh-'));
  try {
    const knownHostsFile = join(dir, 'known_hosts');
    const key = conn.hostKey;
    await writeFile(
      knownHostsFile,
      `${HOST_KEY_ALIAS} ${key.keyType} ${key.blob.toString('base64')}\n`,
      { mode: 0o600 },
    );
    let identityFile = login.identityFile;
    if (identityFile === undefined && login.privateKey !== undefined) {
      identityFile = join(dir, 'id');
      const text = login.privateKey.endsWith('\n') ? login.privateKey : `${login.privateKey}\n`;
      await writeFile(identityFile, text, { mode: 0o600 });
    }
    return await body({ knownHostsFile, identityFile });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
