/**
 * The `database` step of a deploy (toss.json `database`, see server/database.ts): production's
 * database is made once and kept; any other environment's is made on its first deploy as a copy
 * of the app's template for its seed, the template seeded first when no template has that seed
 * yet. It runs after the upload (the seed is a file of the release) and before deployScript (whose
 * migrations need the database).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TossConfig } from '../config/schema.js';
import { RemoteCommandError, TossError } from '../errors.js';
import {
  type AppDatabase,
  cloneDatabaseRun,
  databaseName,
  dropDatabaseByNameRun,
  EMPTY_TEMPLATE,
  ensureDatabaseRun,
  listDatabasesRun,
  parseDatabaseList,
  prepareTemplateRun,
  type SqlRun,
  sealedComment,
  sealTemplateRun,
  seedCommand,
  seedHash,
  templateName,
} from '../server/database.js';
import type { EnvPaths } from '../server/paths.js';
import { ensurePostgresArgv, installFailureHint, POSTGRES_PACKAGE } from '../server/provision.js';
import { dependencyRunArgv, deployScriptRunArgv } from '../server/systemd-run.js';
import type { EventSink } from './events.js';
import { runUnit, streamAsRoot } from './long-step.js';
import type { RunResult, Server } from './server.js';
import { step } from './step.js';

/**
 * The app's databases as PostgreSQL listed them; a TossError saying how to fix a PostgreSQL that
 * does not answer (for an app whose toss.json has no database: that it has none).
 */
export function databasesOrThrow(
  result: RunResult,
  config: Pick<TossConfig, 'app' | 'database'>,
): AppDatabase[] {
  if (result.code === 0) return parseDatabaseList(result.stdout);
  const said = result.stderr.trim().split('\n').at(-1) || `exit ${result.code ?? 'signal'}`;
  throw new TossError(`PostgreSQL does not answer on the server (${said})`, {
    hint:
      config.database === undefined
        ? `${config.app} has no database: add "database" to toss.json and deploy`
        : 'run `toss init` (it installs and starts PostgreSQL), or `apt-get install postgresql` on the server, then deploy again',
  });
}

/** `listDatabasesRun` as root; a PostgreSQL that does not answer is a non-zero exit, not thrown. */
export function listDatabases(server: Pick<Server, 'root'>, app: string): Promise<RunResult> {
  const run = listDatabasesRun(app);
  return server.root(run.argv, { stdin: run.stdin, allowFailure: true });
}

/**
 * Production's deploy installs PostgreSQL when the server has none answering, as `toss init`
 * does (a database added to toss.json after init): Debian's package in a UTF-8 locale (the
 * cluster it creates takes its encoding from there), then the cluster enabled and started.
 */
async function installPostgres(server: Server, sink: EventSink): Promise<void> {
  const argv = dependencyRunArgv({
    app: server.app,
    command: `export DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8; apt-get install -y --no-install-recommends ${POSTGRES_PACKAGE}`,
  });
  const run = await streamAsRoot(server, 'database', argv, sink, { guarded: true });
  if (run.code !== 0) {
    throw new RemoteCommandError(
      `apt-get install ${POSTGRES_PACKAGE}`,
      run.code,
      run.tail.join('\n'),
      {
        message: `installing PostgreSQL failed (exit ${run.code ?? 'signal'}); nothing live was touched:\n${run.tail.join('\n')}`,
        hint: installFailureHint(run.tail.join('\n')),
      },
    );
  }
  await server.guarded(ensurePostgresArgv());
}

/** An SQL run under the lock. */
function guardedSql(server: Server, run: SqlRun) {
  return server.guarded(run.argv, { stdin: run.stdin });
}

export function databaseStep(
  server: Server,
  config: TossConfig,
  env: EnvPaths,
  sourceDir: string,
  releaseId: string,
  sink: EventSink,
): Promise<DatabaseResult | undefined> {
  const database = config.database;
  if (database === undefined) return Promise.resolve(undefined);
  return step(
    sink,
    'database',
    async () => {
      let listed = await listDatabases(server, env.app);
      let installed = '';
      if (env.isProduction && listed.code !== 0) {
        await installPostgres(server, sink);
        installed = ' (PostgreSQL installed)';
        listed = await listDatabases(server, env.app);
      }
      const existing = new Map(databasesOrThrow(listed, config).map((d) => [d.name, d.comment]));
      const name = databaseName(env.app, env.environment);
      if (existing.has(name)) return { name, from: 'kept', detail: `${name}, kept${installed}` };
      if (env.isProduction) {
        await guardedSql(server, ensureDatabaseRun(env.app, env.environment));
        return { name, from: 'empty', detail: `${name}, created empty${installed}` };
      }
      return copyForPreview(server, env, sourceDir, releaseId, database.seed, existing, sink);
    },
    (result) => result.detail,
  );
}

/**
 * A new non-production environment's database: a copy of the template of its seed, which is made
 * first when no template has that seed yet; template0 (empty) without a seed.
 */
async function copyForPreview(
  server: Server,
  env: EnvPaths,
  sourceDir: string,
  releaseId: string,
  seed: string | undefined,
  existing: ReadonlyMap<string, string>,
  sink: EventSink,
): Promise<DatabaseResult> {
  const name = databaseName(env.app, env.environment);
  let template = EMPTY_TEMPLATE;
  let made = '';
  if (seed !== undefined) {
    const hash = seedHash(await readSeed(sourceDir, seed));
    template = templateName(env.app, hash);
    // Only a sealed template counts: one a crashed deploy left half-seeded is made again.
    if (existing.get(template) !== sealedComment(hash)) {
      await seedTemplate(server, env, releaseId, template, seed, hash, sink);
      made = `, template ${template} seeded from ${seed}`;
    }
  }
  await guardedSql(server, cloneDatabaseRun(env.app, env.environment, template));
  const from = seed === undefined ? 'empty' : `a copy of ${seed}`;
  return { name, from, detail: `${name}, a copy of ${template}${made}` };
}

/** The step's outcome: the database's name, what it started from (kept, empty, a seed's copy). */
export interface DatabaseResult {
  name: string;
  /** `kept` (it was there), `empty`, or `a copy of <seed>` */
  from: string;
  detail: string;
}

async function readSeed(sourceDir: string, seed: string): Promise<Buffer> {
  try {
    return await readFile(join(sourceDir, seed));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new TossError(
      `toss.json database.seed ${JSON.stringify(seed)} cannot be read here (${code}); nothing live was touched`,
      { hint: 'commit the seed file, or fix database.seed (a path relative to root)' },
    );
  }
}

/**
 * A new template: made empty, seeded by psql as the previews' user in the deployScript sandbox,
 * then sealed. A seed that fails leaves the half-made template dropped and every older one as it
 * was; the error shows psql's own words (the file, line and statement that failed).
 */
async function seedTemplate(
  server: Server,
  env: EnvPaths,
  releaseId: string,
  template: string,
  seed: string,
  hash: string,
  sink: EventSink,
): Promise<void> {
  await guardedSql(server, prepareTemplateRun(env.app, template));
  const argv = deployScriptRunArgv({
    paths: env,
    releaseId,
    command: seedCommand(template, seed),
  });
  try {
    await runUnit(server, 'database', argv, sink, `database.seed ${seed}`);
  } catch (error) {
    await guardedSql(server, dropDatabaseByNameRun(template)).catch(() => undefined);
    if (!(error instanceof RemoteCommandError)) throw error;
    throw new RemoteCommandError(error.command, error.exitCode, error.outputTail, {
      message: error.message,
      hint: `fix ${seed} (psql names its file, line and statement above) and deploy again; the templates and databases already there are unchanged`,
    });
  }
  await guardedSql(server, sealTemplateRun(env.app, template, hash));
}
