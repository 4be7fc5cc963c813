/**
 * `toss db shell|reset|dump <env>`: an environment's own database (server/database.ts) on day
 * two. `shell` is psql as the environment's role through the system ssh with the host key the
 * session verified (as `toss ssh`); `reset` makes a preview's database again as a fresh copy of
 * the app's newest template, under the app's lock; `dump` streams pg_dump's plain SQL over the
 * session. psql and pg_dump run as the environment's system user, so peer authentication lets
 * them in as its role and nothing more: no password, no superuser.
 */
import { validateEnvName } from '../config/env-name.js';
import type { TossConfig } from '../config/schema.js';
import { TossError } from '../errors.js';
import { shellJoin } from '../remote/quote.js';
import {
  type AppDatabase,
  appDatabasePrefix,
  cloneDatabaseRun,
  databaseName,
  databaseRole,
  EMPTY_TEMPLATE,
  PG_SOCKET_DIR,
  SEALED_PREFIX,
} from '../server/database.js';
import { envPaths } from '../server/paths.js';
import { interactiveSshArgv } from '../server/shell.js';
import { databasesOrThrow, listDatabases } from './database-step.js';
import type { EventSink } from './events.js';
import { withLockedSession } from './lock.js';
import type { Login, TargetRequest } from './request.js';
import type { OpenServer, Server } from './server.js';
import { openServer, Session } from './session.js';
import { requireEnvironment, runInteractive } from './shell.js';
import { HOST_KEY_ALIAS, withSshFiles } from './ssh-files.js';
import { step } from './step.js';

/** An environment's database and the role its processes reach it as. */
export interface DatabaseTarget {
  environment: string;
  database: string;
  role: string;
}

export function databaseTarget(app: string, environment: string): DatabaseTarget {
  const env = validateEnvName(environment, 'environment');
  return { environment: env, database: databaseName(app, env), role: databaseRole(app, env) };
}

function assertRole(role: string): string {
  if (!/^[a-z_][a-z0-9_-]*$/.test(role)) {
    throw new TossError(`invalid role name ${JSON.stringify(role)}`);
  }
  return role;
}

/**
 * argv of a client (psql, pg_dump) run as the environment's system user on the local socket:
 * peer authentication makes it the role of the same name. Host and user are named, so no PG*
 * variable in root's environment can point it elsewhere. It starts in `/`: in a directory the
 * user cannot enter (root's home), PostgreSQL's clients complain on every start. The user has
 * no home (/nonexistent): psql's history goes to /dev/null instead of a warning at every exit.
 */
export function asRoleArgv(target: DatabaseTarget, program: string, args: string[]): string[] {
  const role = assertRole(target.role);
  return [
    'runuser',
    '-u',
    role,
    '--',
    'env',
    '--chdir=/',
    'PSQL_HISTORY=/dev/null',
    program,
    '-h',
    PG_SOCKET_DIR,
    '-U',
    role,
    ...args,
  ];
}

/**
 * The remote command line of `toss db shell`: an interactive psql in the database as its role
 * (through sudo -n for a login other than root).
 */
export function dbShellCommand(target: DatabaseTarget, sudo: boolean): string {
  const argv = asRoleArgv(target, 'psql', ['-d', target.database]);
  return shellJoin(sudo ? ['sudo', '-n', '--', ...argv] : argv);
}

/** pg_dump of the database as its role: plain SQL on stdout, no owners, no grants. */
export function dbDumpArgv(target: DatabaseTarget): string[] {
  return asRoleArgv(target, 'pg_dump', [
    '--format=plain',
    '--no-owner',
    '--no-privileges',
    '-d',
    target.database,
  ]);
}

/**
 * The newest sealed template of the app (the list is in oid order, as listDatabasesRun gives
 * it), or template0 when there is none (an app with no seed: previews start empty).
 */
export function newestTemplate(app: string, databases: readonly AppDatabase[]): string {
  const prefix = `${appDatabasePrefix(app)}_seed_`;
  const sealed = databases.filter(
    (d) => d.name.startsWith(prefix) && d.comment.startsWith(SEALED_PREFIX),
  );
  return sealed.at(-1)?.name ?? EMPTY_TEMPLATE;
}

/** The environment is in state.json; else what is there (or that nothing was deployed). */
/**
 * The environment exists and has its database on the server; the app's databases as listed.
 * Refused, with what to do, when either is missing.
 */
export async function requireDatabase(
  server: Server,
  config: TossConfig,
  target: DatabaseTarget,
): Promise<AppDatabase[]> {
  await requireEnvironment(server, target.environment);
  const databases = databasesOrThrow(await listDatabases(server, config.app), config);
  if (databases.some((d) => d.name === target.database)) return databases;
  throw new TossError(
    `${target.environment} of ${config.app} has no database (${target.database} is not on the server)`,
    {
      hint:
        config.database === undefined
          ? `add "database": {"engine": "postgres"} to toss.json and deploy ${target.environment} (toss deploy ${target.environment})`
          : `deploy ${target.environment} again (toss deploy ${target.environment}): its deploy makes the database`,
    },
  );
}

/**
 * `toss db shell <env>`: psql in the environment's database as its role, in this terminal;
 * resolves with ssh's exit status (psql's own, or 255 when ssh failed).
 */
export async function openDatabaseShell(
  login: Login,
  config: TossConfig,
  environment: string,
): Promise<number> {
  const target = databaseTarget(config.app, environment);
  const session = await Session.open(login, config.app);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await session.close();
  };
  try {
    await requireDatabase(session, config, target);
    return await withSshFiles(session, async (files) => {
      const argv = interactiveSshArgv({
        user: login.user,
        host: login.host,
        port: login.port,
        identityFile: files.identityFile,
        knownHostsFile: files.knownHostsFile,
        hostKeyAlias: HOST_KEY_ALIAS,
        command: dbShellCommand(target, !session.isRoot),
      });
      // The interactive ssh is a login of its own: toss's connection is not needed meanwhile.
      await close();
      return runInteractive(argv);
    });
  } finally {
    await close();
  }
}

export interface ResetResult {
  environment: string;
  database: string;
  /** what the database is now a copy of: the app's newest template, or template0 */
  template: string;
}

/**
 * `toss db reset <env>`: under the app's lock, the environment's database is dropped (its
 * connections ended) and made again as a copy of the app's newest template. Production is
 * refused: its database is the only copy of its data. The environment's instances keep
 * running; their next connection opens the fresh copy.
 */
export function resetDatabase(request: TargetRequest, sink: EventSink): Promise<ResetResult> {
  const { config } = request;
  let target: DatabaseTarget;
  try {
    target = databaseTarget(config.app, request.environment);
    if (envPaths(config.app, target.environment).isProduction) {
      throw new TossError(`refusing to reset production's database: its data would be lost`, {
        hint: `toss db reset is for previews and other non-production environments; \`toss db dump production > backup.sql\` saves production's data`,
      });
    }
  } catch (error) {
    return Promise.reject(error);
  }
  return withLockedSession(
    request,
    sink,
    {
      before: async (server) => {
        await requireDatabase(server, config, target);
        return undefined;
      },
    },
    (server) =>
      step(
        sink,
        'database',
        async () => {
          // Listed again under the lock: a deploy that finished meanwhile may have sealed a newer
          // template, or removed the environment.
          const databases = await requireDatabase(server, config, target);
          const template = newestTemplate(config.app, databases);
          const run = cloneDatabaseRun(config.app, target.environment, template, {
            replace: true,
          });
          await server.guarded(run.argv, { stdin: run.stdin });
          return { environment: target.environment, database: target.database, template };
        },
        (result) => `${result.database}, a fresh copy of ${result.template}`,
      ),
  );
}

export interface DumpRequest {
  config: TossConfig;
  login: Login;
  environment: string;
  /** the dump's bytes, as they arrive */
  write: (chunk: Buffer) => void;
  /** pg_dump's messages */
  writeErr: (chunk: Buffer) => void;
  connect?: OpenServer | undefined;
}

/**
 * `toss db dump <env>`: pg_dump of the environment's database as its role, streamed to `write`
 * over the verified session; resolves with the number of bytes written. A pg_dump that fails
 * is a TossError (what it wrote so far is incomplete).
 */
export async function dumpDatabase(request: DumpRequest): Promise<{ bytes: number }> {
  const { config } = request;
  const target = databaseTarget(config.app, request.environment);
  const server = await openServer(request, config.app);
  try {
    await requireDatabase(server, config, target);
    let bytes = 0;
    const result = await server.root(dbDumpArgv(target), {
      allowFailure: true,
      onStdout: (chunk) => {
        bytes += chunk.length;
        request.write(chunk);
      },
      onStderr: request.writeErr,
    });
    if (result.code !== 0) {
      throw new TossError(
        `pg_dump of ${target.database} failed (exit ${result.code ?? result.signal ?? 'unknown'}); the dump written so far is incomplete`,
        { hint: "pg_dump's own message is above" },
      );
    }
    return { bytes };
  } finally {
    await server.close();
  }
}
