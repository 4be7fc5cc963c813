/**
 * A database per preview (toss.json `database`) end to end, on one real host's PostgreSQL
 * (Debian 12's 15) with examples/notes (Flask + psycopg2; db/seed.sql, db/migrations):
 * production and previews each on their own database, read and written through Caddy; a PR's
 * migration changes only its own copy; the roles reach nothing but their own databases (as an
 * attacker would try: another environment's role, another app's, TCP, another role's name, the
 * template itself from a preview's deployScript) and no password exists anywhere; removal by the
 * CLI, by a closed pull request (the action) and by the sweep's ttl drops the database and ends
 * its connections; an orphan database is reported with the fix that drops it; a changed seed
 * builds one new template, and a bad seed leaves none half-made.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedHash, templateName } from '../../src/server/database.js';
import { envPaths } from '../../src/server/paths.js';
import { type FakeGitHub, startFakeGitHub } from '../support/fake-github/server.js';
import { example } from '../support/webhook-events.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import {
  type AppCheckout,
  fetchSite,
  inHost,
  makeApp,
  sslipName,
  type TossRun,
  toss,
} from './support/app.js';
import { psqlAs, waitForPostgres } from './support/postgres.js';
import { runAction } from './support/runner.js';

const APP = 'notes';
const OTHER = 'memo';
const PROD_ROLE = 'toss-notes';
const PV_ROLE = 'toss-notes_pv';
const db = (environment: string) => `toss_${APP}_${environment}`;
const SEED_ROWS = ['seed 1', 'seed 2', 'seed 3'];
const NEW_SEED_ROWS = [...SEED_ROWS, 'seed 4'];
const PREVIEWS = { sleepAfter: 'off', ttl: '1d' };

let host: TestHost;
let fake: FakeGitHub;
let app: AppCheckout;
/** Everything toss printed in this file, to look for a password in. */
const outputs: string[] = [];
/** Figures for the report. */
const figures: Record<string, string> = {};

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  fake = await startFakeGitHub();
  await waitForPostgres(host);
  app = await makeApp(host, { app: APP, previews: PREVIEWS }, undefined, 'notes');
  await deploy('production');
  figures.pr1 = await timedFirstDeploy('pr-1', 'seed to build');
  // pr-2's pull request brings a migration of its own, and a deployScript that tries what a
  // pull request's code could try against the template and production (see ATTACK below).
  writeFileSync(join(app.dir, MIGRATION_0002), 'ALTER TABLE notes ADD COLUMN pinned boolean;\n');
  writeFileSync(join(app.dir, 'db/attack.sh'), ATTACK);
  app.configure({ deployScript: ['python3 db/migrate.py', 'sh db/attack.sh'] });
  try {
    const started = Date.now();
    pr2Deploy = await deploy('pr-2');
    figures.pr2 = `first deploy of pr-2 (template already there; its deployScript also runs a migration and the attack script) ${((Date.now() - started) / 1000).toFixed(1)} s in all; ${databaseLine(pr2Deploy)}`;
  } finally {
    rmSync(join(app.dir, MIGRATION_0002));
    rmSync(join(app.dir, 'db/attack.sh'));
    app.configure({ deployScript: ['python3 db/migrate.py'] });
  }
}, 600_000);
afterAll(async () => {
  for (const [name, figure] of Object.entries(figures)) console.log(`DB | ${name}: ${figure}`);
  await fake?.close();
  await host?.shutdown();
});

const MIGRATION_0002 = 'db/migrations/0002_pinned.sql';
let pr2Deploy: TossRun;

/**
 * Run by pr-2's deployScript, as the previews' user in the deployScript sandbox: each attempt on
 * one line, `ATTACK <what> exit=<status> <what psql said>`. The template's name is public
 * (pg_database is readable by every role).
 */
const ATTACK = `tpl=$(psql -X -At -c "SELECT datname FROM pg_database WHERE starts_with(datname, 'toss_notes__seed_') ORDER BY oid DESC LIMIT 1")
try() {
  what=$1; shift
  said=$("$@" 2>&1); status=$?
  printf 'ATTACK %s exit=%s %s\\n' "$what" "$status" "$(printf '%s' "$said" | tr '\\n' ' ')"
}
echo "ATTACK template $tpl"
try connect-template psql -X -w -d "$tpl" -c 'SELECT 1'
try allow-connections psql -X -c "ALTER DATABASE \\"$tpl\\" ALLOW_CONNECTIONS true"
try take-template psql -X -c "ALTER DATABASE \\"$tpl\\" OWNER TO current_user"
try drop-template psql -X -c "DROP DATABASE \\"$tpl\\""
try copy-template psql -X -c "CREATE DATABASE stolen TEMPLATE \\"$tpl\\""
try connect-production psql -X -w -d toss_notes_production -c 'SELECT 1'
try as-production psql -X -w -U toss-notes -d toss_notes_production -c 'SELECT 1'
exit 0
`;

function tossIn(args: string[], checkout: AppCheckout = app): Promise<TossRun> {
  return toss(host, args, { cwd: checkout.dir }).then((run) => {
    outputs.push(run.output);
    return run;
  });
}

async function deploy(environment: string, checkout: AppCheckout = app): Promise<TossRun> {
  const run = await tossIn(['deploy', environment], checkout);
  expect(run.code, run.output).toBe(0);
  return run;
}

/** The deploy's `database` step line (toss: … done in 0.4s (detail)). */
function databaseLine(run: TossRun): string {
  const line = run.output.split('\n').find((l) => /^toss: .*database.* done in /i.test(l));
  expect(line, run.output).toBeDefined();
  return line!;
}

/** A preview's first deploy: its total time and its database step's line. */
async function timedFirstDeploy(environment: string, what: string): Promise<string> {
  const started = Date.now();
  const run = await deploy(environment);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  return `first deploy of ${environment} (${what}) ${seconds} s in all; ${databaseLine(run)}`;
}

/** One column of rows, as `role` sees them in `database`. */
async function rows(role: string, database: string, sql: string): Promise<string[]> {
  const r = await psqlAs(host, role, sql, database);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((line) => line !== '');
}

const asPostgres = (sql: string) => rows('postgres', 'postgres', sql);

/** The app's templates, oldest first: name, oid, owner, allow-connections, comment. */
const templates = () =>
  asPostgres(
    `SELECT datname || ' ' || oid || ' ' || pg_get_userbyid(datdba) || ' ' || datallowconn || ' ' || coalesce(shobj_description(oid, 'pg_database'), '')
     FROM pg_database WHERE starts_with(datname, 'toss_${APP}__seed_') ORDER BY oid;`,
  );
const appDatabases = () =>
  asPostgres(`SELECT datname FROM pg_database WHERE starts_with(datname, 'toss_${APP}_');`);
const databaseExists = async (name: string) =>
  (await asPostgres(`SELECT count(*) FROM pg_database WHERE datname = '${name}';`))[0] === '1';

/** The notes an environment's app lists, through Caddy over HTTPS. */
async function notesOf(environment: string): Promise<string[]> {
  const page = await fetchSite(host, sslipName(host, APP, environment), '/', {
    timeoutMs: 30_000,
  });
  expect(page.status, page.body).toBe(200);
  return (JSON.parse(page.body) as Array<{ body: string }>).map((note) => note.body);
}

/** POST /notes through Caddy over HTTPS, the note as the body. */
function postNote(environment: string, note: string): Promise<{ status: number; body: string }> {
  const name = sslipName(host, APP, environment);
  return new Promise((resolvePromise, reject) => {
    const req = request(
      {
        host: host.ip,
        port: 443,
        path: '/notes',
        method: 'POST',
        servername: name,
        headers: { host: name, 'content-type': 'text/plain' },
        ca: host.caCert,
        timeout: 30_000,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout posting to ${name}`)));
    req.on('error', reject);
    req.end(note);
  });
}

/** Whether `column` exists in the notes table of `database` (asked as postgres). */
async function hasColumn(database: string, column: string): Promise<boolean> {
  const [count] = await rows(
    'postgres',
    database,
    `SELECT count(*) FROM information_schema.columns WHERE table_name = 'notes' AND column_name = '${column}';`,
  );
  return count === '1';
}

/** psql run as the OS user `user` with these arguments; the exit code is returned. */
function psqlRunAs(user: string, args: string[], env: string[] = []) {
  return host.exec([
    'runuser',
    '-u',
    user,
    '--',
    'env',
    ...env,
    'psql',
    '-X',
    '-w',
    '-At',
    ...args,
    '-c',
    'SELECT current_user;',
  ]);
}

describe('production and two previews', () => {
  it("each preview starts with the seed's rows, production with none (its migration made the table)", async () => {
    expect(await notesOf('pr-1')).toEqual(SEED_ROWS);
    expect(await notesOf('pr-2')).toEqual(SEED_ROWS);
    expect(await notesOf('production')).toEqual([]);
    // Every environment on its own database, owned by its own role.
    expect(
      await asPostgres(
        `SELECT datname || ' ' || pg_get_userbyid(datdba) FROM pg_database
         WHERE datname IN ('${db('production')}', '${db('pr-1')}', '${db('pr-2')}') ORDER BY datname;`,
      ),
    ).toEqual([
      `${db('pr-1')} ${PV_ROLE}`,
      `${db('pr-2')} ${PV_ROLE}`,
      `${db('production')} ${PROD_ROLE}`,
    ]);
    // `toss list --json` names each environment's database.
    const list = await tossIn(['list', '--json']);
    expect(list.code, list.output).toBe(0);
    const listed = JSON.parse(list.stdout) as {
      environments: Array<{ name: string; database: string | null }>;
    };
    expect(Object.fromEntries(listed.environments.map((e) => [e.name, e.database]))).toEqual({
      production: db('production'),
      'pr-1': db('pr-1'),
      'pr-2': db('pr-2'),
    });
  });

  it('a note written in pr-1 is in pr-1 only', async () => {
    const posted = await postNote('pr-1', 'written in pr-1');
    expect(posted.status, posted.body).toBe(201);
    expect(await notesOf('pr-1')).toEqual([...SEED_ROWS, 'written in pr-1']);
    expect(await notesOf('pr-2')).toEqual(SEED_ROWS);
    expect(await notesOf('production')).toEqual([]);
  });

  it("pr-2's migration changed pr-2's copy only", async () => {
    expect(await hasColumn(db('pr-2'), 'pinned')).toBe(true);
    expect(await hasColumn(db('pr-1'), 'pinned')).toBe(false);
    expect(await hasColumn(db('production'), 'pinned')).toBe(false);
    // Nor the template every later preview starts from.
    const [template] = (await templates()).map((t) => t.split(' ')[0]!);
    const inTemplate = await psqlAs(
      host,
      'postgres',
      "SELECT count(*) FROM information_schema.columns WHERE column_name = 'pinned';",
      template,
    );
    // Closed to connections, even postgres's: its columns are read from a copy.
    expect(inTemplate.code).not.toBe(0);
    expect(inTemplate.stderr).toContain('is not currently accepting connections');
    await asPostgres(`CREATE DATABASE template_look TEMPLATE "${template}";`);
    expect(await hasColumn('template_look', 'pinned')).toBe(false);
    expect(await hasColumn('template_look', 'body')).toBe(true);
    await asPostgres('DROP DATABASE template_look;');
  });
});

describe('isolation: each role reaches its own database and nothing else, with no password anywhere', () => {
  let memo: AppCheckout;
  const OTHER_ROLES = [`toss-${OTHER}`, `toss-${OTHER}_pv`];
  const NOTES_DATABASES = [db('production'), db('pr-1'), db('pr-2')];

  beforeAll(async () => {
    // Another app with a database on the same server: its production and a preview, so both of
    // its roles exist, made by toss as notes' were.
    memo = await makeApp(host, { app: OTHER, previews: PREVIEWS }, undefined, 'notes');
    await deploy('production', memo);
    await deploy('pr-1', memo);
  }, 300_000);

  /** Expects psql as `user` to be refused by the server, and returns what it said. */
  async function refused(user: string, args: string[], env: string[] = []): Promise<string> {
    const r = await psqlRunAs(user, args, env);
    expect(r.code, `${user} ${args.join(' ')} got in: ${r.stdout}`).not.toBe(0);
    expect(r.stdout).toBe('');
    return r.stderr;
  }

  it("production's role cannot open a preview's database, nor the previews' role production's", async () => {
    // Each reaches its own: the refusals below are about the database, not a broken login.
    expect((await psqlRunAs(PROD_ROLE, ['-d', db('production')])).stdout).toBe(`${PROD_ROLE}\n`);
    expect((await psqlRunAs(PV_ROLE, ['-d', db('pr-1')])).stdout).toBe(`${PV_ROLE}\n`);
    for (const preview of ['pr-1', 'pr-2']) {
      const said = await refused(PROD_ROLE, ['-d', db(preview)]);
      expect(said).toContain(`permission denied for database "${db(preview)}"`);
      expect(said).toContain('User does not have CONNECT privilege.');
    }
    const said = await refused(PV_ROLE, ['-d', db('production')]);
    expect(said).toContain(`permission denied for database "${db('production')}"`);
    expect(said).toContain('User does not have CONNECT privilege.');
  });

  it("another app's roles reach none of notes' databases", async () => {
    expect((await psqlRunAs(`toss-${OTHER}`, ['-d', `toss_${OTHER}_production`])).code).toBe(0);
    expect((await psqlRunAs(`toss-${OTHER}_pv`, ['-d', `toss_${OTHER}_pr-1`])).code).toBe(0);
    for (const role of OTHER_ROLES) {
      for (const database of NOTES_DATABASES) {
        expect(await refused(role, ['-d', database])).toContain(
          `permission denied for database "${database}"`,
        );
      }
    }
    // Nor notes' roles memo's.
    expect(await refused(PV_ROLE, ['-d', `toss_${OTHER}_pr-1`])).toContain('permission denied');
    expect(await refused(PROD_ROLE, ['-d', `toss_${OTHER}_production`])).toContain(
      'permission denied',
    );
  });

  it('no way in over TCP (no password exists), nor under another role name on the socket (peer)', async () => {
    for (const [role, database] of [
      [PROD_ROLE, db('production')],
      [PV_ROLE, db('pr-1')],
    ] as const) {
      // Its own database, its own name: over TCP there is no password to give...
      const none = await refused(role, ['-h', '127.0.0.1', '-d', database]);
      expect(none).toContain('no password supplied');
      // ...and none to guess: the role has none, so every password fails.
      for (const guess of ['', role, 'postgres', 'password']) {
        const wrong = await refused(
          role,
          ['-h', '127.0.0.1', '-d', database],
          [`PGPASSWORD=${guess}`],
        );
        expect(wrong).toMatch(/password authentication failed for user|no password supplied/);
      }
    }
    // The previews' user asking for production's role on the local socket: peer says no.
    const peer = await refused(PV_ROLE, ['-U', PROD_ROLE, '-d', db('production')]);
    expect(peer).toContain(`Peer authentication failed for user "${PROD_ROLE}"`);
    const reverse = await refused(PROD_ROLE, ['-U', PV_ROLE, '-d', db('pr-1')]);
    expect(reverse).toContain(`Peer authentication failed for user "${PV_ROLE}"`);
    const otherApp = await refused(`toss-${OTHER}`, ['-U', PROD_ROLE, '-d', db('production')]);
    expect(otherApp).toContain(`Peer authentication failed for user "${PROD_ROLE}"`);
  });

  it('no role has a password; none is in an env file, the secrets, state.json, a unit or the output', async () => {
    const roles = [PROD_ROLE, PV_ROLE, ...OTHER_ROLES];
    expect(
      await asPostgres(
        `SELECT rolname || ' ' || (rolpassword IS NULL) || ' ' || rolsuper || ' ' || rolcreatedb || ' ' || rolcreaterole
         FROM pg_authid WHERE rolname IN (${roles.map((r) => `'${r}'`).join(', ')}) ORDER BY rolname;`,
      ),
    ).toEqual(roles.sort().map((r) => `${r} true false false false`));

    // Each environment's env files: DATABASE_URL names its own role and database, with no
    // password in it.
    const envFiles = (
      await inHost(host, ['sh', '-c', 'ls -d /srv/notes/*/env/*.env /srv/memo/*/env/*.env'])
    )
      .split('\n')
      .filter(Boolean);
    expect(envFiles.length).toBeGreaterThanOrEqual(5);
    for (const file of envFiles) {
      const [, owner, environment] = /^\/srv\/([a-z]+)\/([a-z0-9-]+)\/env\//.exec(file)!;
      const role = environment === 'production' ? `toss-${owner}` : `toss-${owner}_pv`;
      const content = await inHost(host, ['cat', file]);
      expect(content, file).toContain(
        `DATABASE_URL="postgresql://${role}@localhost/toss_${owner}_${environment}?host=/var/run/postgresql"\n`,
      );
    }
    const looked = [
      '/srv/notes/.toss',
      '/srv/memo/.toss',
      ...envFiles,
      '/etc/systemd/system',
      '/etc/caddy',
    ];
    const grep = await host.exec(['grep', '-rilE', 'password|passwd', ...looked]);
    // grep: 1 is "nothing found" (2 would be an error).
    expect(grep.code, grep.stdout + grep.stderr).toBe(1);
    expect(outputs.length).toBeGreaterThanOrEqual(6);
    for (const output of outputs) expect(output).not.toMatch(/password/i);
  });

  it("a preview's deployScript cannot connect to the template, alter, take, drop or copy it, nor reach production", async () => {
    const attacks = Object.fromEntries(
      pr2Deploy.output
        .split('\n')
        .map((line) => /^\s*ATTACK (\S+) (.*)$/.exec(line))
        .filter((m) => m !== null)
        .map((m) => [m[1], m[2]]),
    );
    expect(attacks.template, pr2Deploy.output).toMatch(/^toss_notes__seed_[0-9a-f]+$/);
    const tpl = attacks.template;
    expect(attacks['connect-template']).toMatch(/^exit=2 /);
    expect(attacks['connect-template']).toContain(
      `database "${tpl}" is not currently accepting connections`,
    );
    for (const what of ['allow-connections', 'take-template', 'drop-template']) {
      expect(attacks[what]).toMatch(/^exit=1 /);
      expect(attacks[what]).toContain(`must be owner of database ${tpl}`);
    }
    expect(attacks['copy-template']).toMatch(/^exit=1 /);
    expect(attacks['copy-template']).toContain('permission denied to create database');
    expect(attacks['connect-production']).toMatch(/^exit=2 /);
    expect(attacks['connect-production']).toContain(
      'permission denied for database "toss_notes_production"',
    );
    expect(attacks['as-production']).toMatch(/^exit=2 /);
    expect(attacks['as-production']).toContain('Peer authentication failed for user "toss-notes"');
    // The template is as the seal left it.
    expect(await templates()).toEqual([
      expect.stringMatching(
        new RegExp(`^${tpl} \\d+ postgres false toss seed sha256:[0-9a-f]{64}$`),
      ),
    ]);
  });
});

describe('a changed seed', () => {
  const SEED = 'db/seed.sql';
  let original: string;
  let firstTemplate: string;
  let newTemplate: string;

  beforeAll(() => {
    original = readFileSync(join(app.dir, SEED), 'utf8');
    firstTemplate = templateName(APP, seedHash(original));
  });

  it('builds one new template for pr-3; pr-2 keeps its data', async () => {
    const posted = await postNote('pr-2', 'written in pr-2');
    expect(posted.status, posted.body).toBe(201);
    const before = await templates();
    expect(before.map((t) => t.split(' ')[0])).toEqual([firstTemplate]);

    const changed = original.replace("('seed 3');", "('seed 3'), ('seed 4');");
    expect(changed).not.toBe(original);
    writeFileSync(join(app.dir, SEED), changed);
    newTemplate = templateName(APP, seedHash(changed));
    const started = Date.now();
    const run = await deploy('pr-3');
    figures.pr3 = `first deploy of pr-3 (changed seed: a template to build) ${((Date.now() - started) / 1000).toFixed(1)} s in all; ${databaseLine(run)}`;
    expect(databaseLine(run)).toContain(
      `(${db('pr-3')}, a copy of ${newTemplate}, template ${newTemplate} seeded from ${SEED})`,
    );

    const after = await templates();
    expect(after).toHaveLength(2);
    // The first template untouched (same oid, owner, seal and comment); the new one sealed.
    expect(after[0]).toBe(before[0]);
    expect(after[1]).toMatch(
      new RegExp(`^${newTemplate} \\d+ postgres false toss seed sha256:${seedHash(changed)}$`),
    );
    expect(await notesOf('pr-3')).toEqual(NEW_SEED_ROWS);
    expect(await notesOf('pr-2')).toEqual([...SEED_ROWS, 'written in pr-2']);
    expect(await hasColumn(db('pr-2'), 'pinned')).toBe(true);
  });

  it('pr-4 with the same seed is a copy of that template: none is built', async () => {
    const before = await templates();
    const started = Date.now();
    const run = await deploy('pr-4');
    figures.pr4 = `first deploy of pr-4 (same changed seed: no template to build) ${((Date.now() - started) / 1000).toFixed(1)} s in all; ${databaseLine(run)}`;
    expect(databaseLine(run)).toContain(`(${db('pr-4')}, a copy of ${newTemplate})`);
    expect(run.output).not.toContain('seeded');
    expect(await templates()).toEqual(before);
    expect(await notesOf('pr-4')).toEqual(NEW_SEED_ROWS);
  });

  it('`toss db reset pr-2` gives pr-2 the new seed', async () => {
    const r = await tossIn(['db', 'reset', 'pr-2']);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain(
      `pr-2's database ${db('pr-2')} reset: a fresh copy of ${newTemplate}`,
    );
    expect(await notesOf('pr-2')).toEqual(NEW_SEED_ROWS);
    // Its own migration's column went with the old copy.
    expect(await hasColumn(db('pr-2'), 'pinned')).toBe(false);
  });

  it('a seed that fails names its file and line, leaves no template half-made and makes no preview', async () => {
    const before = await templates();
    writeFileSync(
      join(app.dir, SEED),
      "CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL);\nINSERT INTO notes (body) VALUES ('fine');\nINSERT INTO notes (body) VALUES ('broken' ;\n",
    );
    try {
      const run = await tossIn(['deploy', 'pr-5']);
      expect(run.code, run.output).not.toBe(0);
      expect(run.output).toContain(`psql:${SEED}:3: ERROR:  syntax error at or near ";"`);
      expect(run.output).toContain(`fix ${SEED}`);
      // No third template (a half-made one dropped), the others as they were.
      expect(await templates()).toEqual(before);
      expect((await appDatabases()).sort()).toEqual(
        [
          ...['production', 'pr-1', 'pr-2', 'pr-3', 'pr-4'].map(db),
          ...before.map((t) => t.split(' ')[0]!),
        ].sort(),
      );
      const state = JSON.parse(await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`])) as {
        environments: Record<string, unknown>;
        lock: unknown;
      };
      expect(Object.keys(state.environments).sort()).toEqual([
        'pr-1',
        'pr-2',
        'pr-3',
        'pr-4',
        'production',
      ]);
      expect(state.lock).toBeNull();
      // No unit, no site, no release or env file (a first deploy's empty directories stay).
      const paths = envPaths(APP, 'pr-5');
      for (const file of [paths.unitTemplateFile, paths.siteFile]) {
        expect((await host.exec(['test', '-e', file])).code, file).not.toBe(0);
      }
      expect(await inHost(host, ['find', paths.envDir, '-type', 'f'])).toBe('');
    } finally {
      writeFileSync(join(app.dir, SEED), original);
    }
  });
});

interface Held {
  /** resolves when the session ends, with what psql said */
  ended: Promise<{ code: number; stderr: string }>;
}

/**
 * A session connected to `database` as `role`, in a transaction that sleeps (as a worker's
 * pool or a forgotten shell would hold it), once the server lists it.
 */
async function holdConnection(role: string, database: string): Promise<Held> {
  const held = host.exec(
    ['runuser', '-u', role, '--', 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-d', database, '-f', '-'],
    { input: 'BEGIN;\nSELECT pg_sleep(300);\n', timeoutMs: 310_000 },
  );
  for (let i = 0; ; i++) {
    const [count] = await asPostgres(
      `SELECT count(*) FROM pg_stat_activity WHERE datname = '${database}' AND usename = '${role}' AND xact_start IS NOT NULL AND query LIKE '%pg_sleep%';`,
    );
    if (count === '1') return { ended: held };
    if (i > 100) throw new Error(`the held session to ${database} never connected`);
    await sleep(100);
  }
}

async function expectEnded(held: Held): Promise<void> {
  const ended = await Promise.race([
    held.ended,
    sleep(15_000).then(() => ({ code: 0, stderr: 'still connected 15 s later' })),
  ]);
  expect(ended.code).not.toBe(0);
  expect(ended.stderr).toContain('terminating connection due to administrator command');
}

/** `toss status --json`'s warnings about databases. */
async function databaseWarnings(): Promise<Array<{ kind: string; message: string; fix: string }>> {
  const r = await tossIn(['status', '--json']);
  expect(r.code, r.output).toBe(0);
  const status = JSON.parse(r.stdout) as {
    warnings: Array<{ kind: string; message: string; fix: string }>;
  };
  return status.warnings.filter((w) => w.kind === 'database-orphan');
}

describe('removal drops the database and its connections', () => {
  it('`toss remove pr-1`, with a connection held open to its database', async () => {
    const held = await holdConnection(PV_ROLE, db('pr-1'));
    const r = await tossIn(['remove', 'pr-1']);
    expect(r.code, r.output).toBe(0);
    await expectEnded(held);
    expect(await databaseExists(db('pr-1'))).toBe(false);
    // The other previews' databases, and the role they share, are still there.
    expect(await databaseExists(db('pr-2'))).toBe(true);
    expect(await notesOf('pr-2')).toEqual(NEW_SEED_ROWS);
  });

  it('a closed pull request (the action): pr-4 goes with its database and connections', async () => {
    const headSha = 'ec26c3e57ca3a959ca5aad62de7213c562f8c821';
    for (const number of [2, 3, 4]) {
      fake.addPull({ number, state: 'open', headSha, headRef: `change-${number}` });
    }
    fake.updatePull(4, { state: 'closed' });
    const payload = structuredClone(example('pull_request', 'closed'));
    payload.number = 4;
    payload.pull_request.number = 4;
    payload.pull_request.head.sha = headSha;
    const held = await holdConnection(PV_ROLE, db('pr-4'));
    const run = await runAction({
      eventName: 'pull_request',
      payload,
      workspace: app.dir,
      apiUrl: fake.url,
      repository: fake.repository,
      inputs: {
        'ssh-key': host.key,
        'known-hosts': host.knownHostsLines.join('\n'),
        'github-token': 'ghs_fake_installation_token',
      },
      // The source: the committed bundle predates the database.
      entry: 'source',
    });
    outputs.push(run.stdout, run.stderr);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.outputs.action).toBe('removed');
    expect(run.outputs.environment).toBe('pr-4');
    await expectEnded(held);
    expect(await databaseExists(db('pr-4'))).toBe(false);
    expect(fake.violations).toEqual([]);
    // Open pull requests' previews stay.
    expect(await databaseExists(db('pr-2'))).toBe(true);
    expect(await databaseExists(db('pr-3'))).toBe(true);
  });

  it("the sweep: pr-3, past production's previews.ttl, goes with its database and connections", async () => {
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
    await inHost(host, [
      'python3',
      '-c',
      `import json, sys
p = '/srv/${APP}/.toss/state.json'
s = json.load(open(p))
s['environments']['pr-3']['deployedAt'] = sys.argv[1]
json.dump(s, open(p, 'w'))`,
      twoDaysAgo,
    ]);
    const held = await holdConnection(PV_ROLE, db('pr-3'));
    const r = await tossIn(['sweep']);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('longer than previews.ttl (1d), removing pr-3');
    await expectEnded(held);
    expect(await databaseExists(db('pr-3'))).toBe(false);
    expect(await databaseExists(db('pr-2'))).toBe(true);
  });

  it('a planted orphan database is reported by `toss status` with the fix, which drops it', async () => {
    await asPostgres(`CREATE DATABASE "${db('pr-77')}" OWNER "${PV_ROLE}";`);
    const status = await tossIn(['status']);
    expect(status.code, status.output).toBe(0);
    expect(status.output).toContain(`database ${db('pr-77')} belongs to no environment of ${APP}`);
    expect(status.output).toContain('toss remove pr-77');
    expect(await databaseWarnings()).toEqual([
      {
        kind: 'database-orphan',
        environment: null,
        message: `database ${db('pr-77')} belongs to no environment of ${APP}`,
        fix: 'toss remove pr-77',
      },
    ]);

    const r = await tossIn(['remove', 'pr-77']);
    expect(r.code, r.output).toBe(0);
    expect(await databaseExists(db('pr-77'))).toBe(false);
    // (status no longer reports it: the next test sees production's warning alone)
  });

  it('`toss remove production --force` keeps its database and says so; status then offers --drop-database', async () => {
    const posted = await postNote('production', 'production data');
    expect(posted.status, posted.body).toBe(201);
    const r = await tossIn(['remove', 'production', '--force']);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(
      `kept production's database ${db('production')}; \`toss remove production --force --drop-database\` drops it`,
    );
    expect(await rows(PROD_ROLE, db('production'), 'SELECT body FROM notes;')).toEqual([
      'production data',
    ]);
    expect(await databaseWarnings()).toEqual([
      {
        kind: 'database-orphan',
        environment: null,
        message: `database ${db('production')} belongs to no environment of ${APP} (production was removed and its database kept)`,
        fix: 'toss remove production --force --drop-database',
      },
    ]);

    const drop = await tossIn(['remove', 'production', '--force', '--drop-database']);
    expect(drop.code, drop.output).toBe(0);
    expect(await databaseExists(db('production'))).toBe(false);
    expect(await databaseWarnings()).toEqual([]);
  });

  it('nothing toss printed in this file says password', () => {
    expect(outputs.length).toBeGreaterThanOrEqual(20);
    for (const output of outputs) expect(output).not.toMatch(/password/i);
  });
});
