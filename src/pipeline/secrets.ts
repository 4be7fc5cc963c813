/**
 * `toss secrets push|pull`: the base secrets of an environment class. Values travel on stdin
 * and stdout of the one SSH connection, never on a command line.
 */
import { parseEnvFile, serializeEnvFile } from '../server/env-file.js';
import { appPaths, type EnvironmentClass } from '../server/paths.js';
import { ensureSecretsDirArgv, writeSecretsArgv } from '../server/secrets.js';
import type { Login } from './request.js';
import { openServer } from './session.js';

/** Replaces the class's secrets file with these entries; says whether it changed. */
export async function pushSecrets(
  login: Login,
  app: string,
  cls: EnvironmentClass,
  entries: ReadonlyMap<string, string>,
): Promise<{ file: string; changed: boolean }> {
  const session = await openServer({ login }, app);
  try {
    await session.root(ensureSecretsDirArgv(app));
    const result = await session.root(writeSecretsArgv(app, cls), {
      stdin: serializeEnvFile(entries),
    });
    return { file: appPaths(app).secretsFile(cls), changed: result.stdout.trim() === 'changed' };
  } finally {
    await session.close();
  }
}

/** The class's secrets, or null when the server has no such file. */
export async function pullSecrets(
  login: Login,
  app: string,
  cls: EnvironmentClass,
): Promise<{ file: string; entries: Map<string, string> | null }> {
  const session = await openServer({ login }, app);
  try {
    const file = appPaths(app).secretsFile(cls);
    const text = (await session.readFiles([file]))[0] ?? null;
    return { file, entries: text === null ? null : parseEnvFile(text, file) };
  } finally {
    await session.close();
  }
}
