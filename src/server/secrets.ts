/** The base secrets store: `/srv/<app>/.toss/secrets/<class>.env`, root 0600 in a root 0700 dir. */
import { appPaths, type EnvironmentClass } from './paths.js';
import { writeFileIfChangedArgv } from './write-file.js';

export const SECRET_CLASSES: readonly EnvironmentClass[] = ['production', 'preview'];

export function isSecretClass(value: string): value is EnvironmentClass {
  return (SECRET_CLASSES as readonly string[]).includes(value);
}

/** Creates (or repairs) `.toss/` and `secrets/` as root 0700. */
export function ensureSecretsDirArgv(app: string): string[] {
  const a = appPaths(app);
  return ['install', '-d', '-m', '0700', '-o', 'root', '-g', 'root', '--', a.tossDir, a.secretsDir];
}

/** Writes stdin (serializeEnvFile text) as the class's secrets file, root 0600. */
export function writeSecretsArgv(app: string, cls: EnvironmentClass): string[] {
  return writeFileIfChangedArgv({ path: appPaths(app).secretsFile(cls), mode: 0o600 });
}
