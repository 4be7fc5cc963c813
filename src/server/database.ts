/**
 * A PostgreSQL database per environment, on the server's own PostgreSQL, with no password
 * anywhere. Each environment's processes run as its system user (users.ts), and PostgreSQL's
 * peer authentication on the local socket (Debian's default `local all all peer`) lets a process
 * in only as the role of the same name. So the roles are the users: `toss-<app>` for production,
 * `toss-<app>_pv` for the app's previews. Every database toss makes is owned by its
 * environment's role and closed to everyone else (CONNECT revoked from PUBLIC), so production's
 * role cannot open a preview's database, the previews' role cannot open production's, and
 * another app's roles open neither. Roles get no superuser, CREATEDB or CREATEROLE.
 *
 * A preview's database starts as a copy of the app's template for its seed: a database made
 * once per seed content (its sha-256 in the name), seeded by the previews' role through psql in
 * the deployScript sandbox (a pull request's seed runs with no more rights than its own app),
 * then handed to postgres and closed to connections, so no preview can change what the next one
 * starts from. CREATE DATABASE … TEMPLATE copies it with STRATEGY FILE_COPY: the template's files
 * copied and synced, everything on disk when it returns (measured on a 101 MiB template: 1.5×
 * a bare `cp -a` + sync). WAL_LOG returns about as fast but leaves the copy's pages to a later
 * checkpoint and writes the whole database to the write-ahead log: twice the time once that
 * checkpoint is counted. FILE_COPY's cost is its two checkpoints, which flush every dirty page of
 * the server, production's included (`npm run bench -- --database`).
 *
 * Root runs the SQL as postgres with psql, the script on stdin and every name as a psql variable
 * (`:"db"` is an identifier, `:'db'` a literal, quoted by psql): no name is ever spliced into SQL
 * or a shell.
 */
import { createHash } from 'node:crypto';
import { TossError } from '../errors.js';
import { shellJoin } from '../remote/quote.js';
import { assertAppName, envPaths } from './paths.js';
import { envUser } from './users.js';

/** Where Debian's and Ubuntu's PostgreSQL listens (its unix_socket_directories). */
export const PG_SOCKET_DIR = '/var/run/postgresql';
/** PostgreSQL's NAMEDATALEN - 1: longer identifiers are cut. */
const PG_NAME_MAX = 63;
const HASH_LENGTH = 8;
/** How many of an app's templates are kept: the newest, and the one before for open PRs. */
export const TEMPLATES_KEPT = 3;

/** `toss_<app>_<env>` (`_` never occurs in app or environment names, so no two envs share one). */
export function databaseName(app: string, environment: string): string {
  const p = envPaths(assertAppName(app), environment);
  const name = `toss_${p.app}_${p.environment}`;
  if (name.length <= PG_NAME_MAX) return name;
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, HASH_LENGTH);
  return `${name.slice(0, PG_NAME_MAX - HASH_LENGTH - 1)}_${hash}`;
}

/** The prefix of every database of the app: its environments' and its templates'. */
export function appDatabasePrefix(app: string): string {
  return `toss_${assertAppName(app)}_`;
}

/** The app's template for the seed whose sha-256 is `seedHash` (`__` never occurs in an env's). */
export function templateName(app: string, seedHash: string): string {
  if (!/^[0-9a-f]{64}$/.test(seedHash)) throw new TossError('invalid seed hash');
  const stem = `toss_${assertAppName(app)}__seed_`;
  // App names are at most 40 characters: 5 + 40 + 7 + 11 = 63.
  return `${stem}${seedHash.slice(0, PG_NAME_MAX - stem.length)}`;
}

/** The template of an app with no seed: previews start empty. */
export const EMPTY_TEMPLATE = 'template0';

/** The role an environment's processes reach PostgreSQL as: its system user. */
export function databaseRole(app: string, environment: string): string {
  return envUser(app, environment);
}

/**
 * What every release (and its deployScript) gets: DATABASE_URL in the form libpq, psycopg,
 * node-postgres, Prisma and Rails read as "this database over that socket", and libpq's own
 * variables, so `psql` with no arguments opens it.
 */
export function databaseVariables(app: string, environment: string): Map<string, string> {
  const db = databaseName(app, environment);
  const role = databaseRole(app, environment);
  return new Map([
    ['DATABASE_URL', `postgresql://${role}@localhost/${db}?host=${PG_SOCKET_DIR}`],
    ['PGHOST', PG_SOCKET_DIR],
    ['PGDATABASE', db],
    ['PGUSER', role],
  ]);
}

/** psql as postgres on the local socket, stopping at the first error, the script on stdin. */
function psqlArgv(variables: Record<string, string>): string[] {
  const argv = ['runuser', '-u', 'postgres', '--', 'psql', '-X', '-q', '-At'];
  argv.push('-v', 'ON_ERROR_STOP=1', '-d', 'postgres');
  for (const [key, value] of Object.entries(variables)) {
    if (!/^[a-z_]+$/.test(key) || /[\0\n]/.test(value)) throw new TypeError(`bad psql variable`);
    argv.push('-v', `${key}=${value}`);
  }
  return [...argv, '-f', '-'];
}

/** A command with its script for stdin. */
export interface SqlRun {
  argv: string[];
  stdin: string;
}

// The role exists, can log in (peer only: it has no password) and nothing more.
const ENSURE_ROLE = `SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \\gexec
`;

// Owned by the role, closed to every other.
const CLOSE_TO_OTHERS = `SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \\gexec
`;

/** Probe: whether PostgreSQL answers, and which of the app's databases exist, with comments. */
export function listDatabasesRun(app: string): SqlRun {
  return {
    argv: psqlArgv({ prefix: appDatabasePrefix(app) }),
    // starts_with, not LIKE: `_` is a LIKE wildcard.
    stdin: `SELECT datname || '\t' || coalesce(shobj_description(oid, 'pg_database'), '')
FROM pg_database WHERE starts_with(datname, :'prefix') ORDER BY oid;
`,
  };
}

export interface AppDatabase {
  name: string;
  comment: string;
}

export function parseDatabaseList(stdout: string): AppDatabase[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const tab = line.indexOf('\t');
      return tab === -1
        ? { name: line, comment: '' }
        : { name: line.slice(0, tab), comment: line.slice(tab + 1) };
    });
}

/**
 * Production's database (or any named environment's started empty): the role, and the database
 * if missing. Never dropped or replaced here.
 */
export function ensureDatabaseRun(app: string, environment: string): SqlRun {
  const db = databaseName(app, environment);
  const role = databaseRole(app, environment);
  return {
    argv: psqlArgv({ role, db }),
    stdin: `${ENSURE_ROLE}SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0', :'db', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \\gexec
${CLOSE_TO_OTHERS}`,
  };
}

/**
 * A template to seed: made empty for the previews' role, which is the only one that may connect
 * while psql runs the seed as that role. A leftover of a seed that failed is replaced.
 */
export function prepareTemplateRun(app: string, template: string): SqlRun {
  const role = databaseRole(app, 'pr-1');
  return {
    argv: psqlArgv({ role, tpl: template }),
    stdin: `${ENSURE_ROLE}SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'tpl') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0', :'tpl', :'role') \\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'tpl') \\gexec
`,
  };
}

/**
 * A seeded template is sealed: owned by postgres (its owner could open it again), a template no
 * one may connect to, its seed hash in its comment. Of the app's templates, the newest
 * TEMPLATES_KEPT stay; older ones are dropped (previews made from them keep their copies).
 */
export function sealTemplateRun(app: string, template: string, seedHash: string): SqlRun {
  const older = `FROM pg_database WHERE starts_with(datname, :'prefix') AND oid NOT IN
  (SELECT oid FROM pg_database WHERE starts_with(datname, :'prefix') ORDER BY oid DESC LIMIT ${TEMPLATES_KEPT})`;
  return {
    argv: psqlArgv({
      tpl: template,
      note: sealedComment(seedHash),
      prefix: templatePrefix(app),
    }),
    stdin: `SELECT format('ALTER DATABASE %I OWNER TO postgres', :'tpl') \\gexec
SELECT format('ALTER DATABASE %I WITH IS_TEMPLATE true ALLOW_CONNECTIONS false', :'tpl') \\gexec
SELECT format('COMMENT ON DATABASE %I IS %L', :'tpl', :'note') \\gexec
SELECT format('ALTER DATABASE %I IS_TEMPLATE false', datname) ${older} \\gexec
SELECT format('DROP DATABASE %I WITH (FORCE)', datname) ${older} \\gexec
`,
  };
}

/** The comment of a sealed template: the mark that its seed ran to the end. */
export function sealedComment(seedHash: string): string {
  return `${SEALED_PREFIX}${seedHash}`;
}
export const SEALED_PREFIX = 'toss seed sha256:';

function templatePrefix(app: string): string {
  return `toss_${assertAppName(app)}__seed_`;
}

/** Whether `name` is one of the app's templates (not an environment's database). */
export function isTemplateName(app: string, name: string): boolean {
  return name.startsWith(templatePrefix(app));
}

/**
 * A preview's database as a copy of `template` (template0: empty), owned by the previews' role
 * (the seeded objects already are), closed to others. With `replace`, an existing one is dropped
 * first, its connections ended (`toss db reset`); without, an existing one is kept.
 */
export function cloneDatabaseRun(
  app: string,
  environment: string,
  template: string,
  options: { replace?: boolean } = {},
): SqlRun {
  const db = databaseName(app, environment);
  const role = databaseRole(app, environment);
  const drop = options.replace
    ? `SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \\gexec\n`
    : '';
  return {
    argv: psqlArgv({ role, db, tpl: template, note: `toss copy of ${template}` }),
    stdin: `${ENSURE_ROLE}${drop}SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE %I STRATEGY FILE_COPY', :'db', :'role', :'tpl')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \\gexec
SELECT format('COMMENT ON DATABASE %I IS %L', :'db', :'note') \\gexec
${CLOSE_TO_OTHERS}`,
  };
}

/** Drops an environment's database, ending its connections first (PostgreSQL 13+). */
export function dropDatabaseRun(app: string, environment: string): SqlRun {
  return dropDatabaseByNameRun(databaseName(app, environment));
}

/** Drops a database by name (an orphan `toss status` found); names outside toss's are refused. */
export function dropDatabaseByNameRun(name: string): SqlRun {
  if (!/^toss_[a-z0-9_-]+$/.test(name)) throw new TossError(`not a toss database: ${name}`);
  return {
    argv: psqlArgv({ db: name }),
    stdin: `SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \\gexec
`,
  };
}

/** sha-256 of a seed's content, hex. */
export function seedHash(content: Buffer | string): string {
  return createHash('sha256').update(content).digest('hex');
}

/**
 * The command that seeds `template`, run in the deployScript sandbox as the previews' user in the
 * release: psql with the seed file, stopping at the first failing statement (psql names the
 * file and line).
 */
export function seedCommand(template: string, seedPath: string): string {
  return shellJoin(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', template, '-f', seedPath]);
}
