/**
 * `toss db shell|reset|dump` against a real host's PostgreSQL (Debian 12's 15): examples/notes
 * (Flask + psycopg2, db/seed.sql) is deployed to production and pr-1; `db shell` is psql in a
 * real terminal as pr-1's role in pr-1's database (logged in as root, and as a sudo user);
 * `db reset` brings pr-1's database back to the seed while the app runs and a connection is
 * open (ended), and refuses production; `db dump` prints only the dump, which restores.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedHash, templateName } from '../../src/server/database.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import {
  type AppCheckout,
  fetchSite,
  makeApp,
  sslipName,
  type TossRun,
  toss,
} from './support/app.js';
import { psqlAs, waitForPostgres } from './support/postgres.js';
import { runInPty } from './support/pty.js';

const ROOT = resolve(import.meta.dirname, '../..');
const APP = 'notes';
const PREVIEW = 'pr-1';
const PREVIEW_DB = 'toss_notes_pr-1';
const PREVIEW_ROLE = 'toss-notes_pv';
const PROD_DB = 'toss_notes_production';
const PROD_ROLE = 'toss-notes';
const SEED_ROWS = ['seed 1', 'seed 2', 'seed 3'];
const TEMPLATE = templateName(
  APP,
  seedHash(readFileSync(join(ROOT, 'examples/notes/db/seed.sql'))),
);

let host: TestHost;
let app: AppCheckout;

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  await waitForPostgres(host);
  app = await makeApp(host, { app: APP }, undefined, 'notes');
  for (const environment of ['production', PREVIEW]) {
    const run = await toss(host, ['deploy', environment], { cwd: app.dir });
    expect(run.code, run.output).toBe(0);
  }
}, 600_000);
afterAll(async () => {
  await host?.shutdown();
});

function tossIn(args: string[]): Promise<TossRun> {
  return toss(host, args, { cwd: app.dir });
}

/** One column of rows, as the role sees them in its database. */
async function rows(role: string, database: string, sql: string): Promise<string[]> {
  const r = await psqlAs(host, role, sql, database);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((line) => line !== '');
}

const notes = () => rows(PREVIEW_ROLE, PREVIEW_DB, 'SELECT body FROM notes ORDER BY id;');

/** The preview's page (the app's list of notes), through Caddy; waking it if it sleeps. */
async function previewNotes(): Promise<string[]> {
  const page = await fetchSite(host, sslipName(host, APP, PREVIEW), '/', { timeoutMs: 60_000 });
  expect(page.status, page.body).toBe(200);
  return (JSON.parse(page.body) as Array<{ body: string }>).map((note) => note.body);
}

/** `toss db shell <env>` in a pseudo-terminal: one query, then \q. */
async function shellSession(environment: string, prompt: string) {
  const knownHosts = join(mkdtempSync(join(tmpdir(), 'toss-kh-')), 'known_hosts');
  writeFileSync(knownHosts, `${host.knownHostsLines.join('\n')}\n`);
  const argv = [
    process.execPath,
    '--import',
    join(ROOT, 'node_modules/tsx/dist/loader.mjs'),
    join(ROOT, 'src/cli/index.ts'),
    'db',
    'shell',
    environment,
  ];
  return runInPty(
    argv,
    [
      [prompt, "select current_user || ':' || current_database() as who;\n"],
      ['(1 row)', '\\q\n'],
    ],
    {
      cwd: app.dir,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: mkdtempSync(join(tmpdir(), 'toss-home-')),
        TERM: 'xterm',
        TOSS_KNOWN_HOSTS: knownHosts,
        TOSS_SSH_KEY: host.keyPath,
      },
    },
  );
}

describe('toss db shell', () => {
  it("opens psql as the preview's role in its database, through a real terminal", async () => {
    const pty = await shellSession(PREVIEW, `${PREVIEW_DB}=>`);
    expect(pty.code, pty.screen).toBe(0);
    // The answer row; the typed query is echoed too, but not its result.
    expect(pty.screen).toContain(`${PREVIEW_ROLE}:${PREVIEW_DB}`);
    // `=>`, not `=#`: not a superuser. No history warning from a role without a home, no
    // complaint about root's home as the working directory.
    expect(pty.screen).not.toContain(`${PREVIEW_DB}=#`);
    expect(pty.screen).not.toContain('could not save history');
    expect(pty.screen).not.toContain('could not change directory');
  });

  it("opens production's as its own role, logged in as a sudo user", async () => {
    const server = app.config().server;
    app.configure({ server: `${host.users.deploy.name}@${host.ip}` });
    try {
      const pty = await shellSession('production', `${PROD_DB}=>`);
      expect(pty.code, pty.screen).toBe(0);
      expect(pty.screen).toContain(`${PROD_ROLE}:${PROD_DB}`);
    } finally {
      app.configure({ server });
    }
  });

  it('refuses an environment that does not exist, saying which do', async () => {
    const r = await tossIn(['db', 'shell', 'pr-9']);
    expect(r.code, r.output).toBe(1);
    expect(r.stderr).toContain('notes has no environment pr-9');
    expect(r.stderr).toContain('environments: pr-1, production');
  });
});

describe('toss db reset', () => {
  it("makes pr-1's database a fresh copy of the seed while the app runs, ending open connections", async () => {
    await rows(PREVIEW_ROLE, PREVIEW_DB, "INSERT INTO notes (body) VALUES ('written in pr-1');");
    expect(await notes()).toEqual([...SEED_ROWS, 'written in pr-1']);
    expect(await previewNotes()).toEqual([...SEED_ROWS, 'written in pr-1']);

    // A session that stays connected (as a shell or a worker's pool would) through the reset.
    const held = host.exec(
      [
        'runuser',
        '-u',
        PREVIEW_ROLE,
        '--',
        'psql',
        '-X',
        '-d',
        PREVIEW_DB,
        '-c',
        'SELECT pg_sleep(300);',
      ],
      { timeoutMs: 310_000 },
    );
    const connected = async () =>
      (
        await rows(
          'postgres',
          'postgres',
          `SELECT count(*) FROM pg_stat_activity WHERE datname = '${PREVIEW_DB}' AND query LIKE '%pg_sleep%';`,
        )
      )[0] === '1';
    for (let i = 0; !(await connected()); i++) {
      if (i > 100) throw new Error('the held session never connected');
      await sleep(100);
    }

    const r = await tossIn(['db', 'reset', PREVIEW]);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain(
      `${PREVIEW}'s database ${PREVIEW_DB} reset: a fresh copy of ${TEMPLATE}`,
    );
    const ended = await held;
    expect(ended.code).not.toBe(0);
    expect(ended.stderr).toContain('terminat');

    expect(await notes()).toEqual(SEED_ROWS);
    // Still owned by the previews' role and closed to production's.
    expect(
      await rows(
        'postgres',
        'postgres',
        `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '${PREVIEW_DB}';`,
      ),
    ).toEqual([PREVIEW_ROLE]);
    const other = await psqlAs(host, PROD_ROLE, 'SELECT 1;', PREVIEW_DB);
    expect(other.code).not.toBe(0);
    // The running app's next connection sees the fresh copy.
    expect(await previewNotes()).toEqual(SEED_ROWS);
    const state = await host.exec(['cat', `/srv/${APP}/.toss/state.json`]);
    expect((JSON.parse(state.stdout) as { lock: unknown }).lock).toBeNull();
  });

  it("refuses production, and production's data stays", async () => {
    await rows(
      PROD_ROLE,
      PROD_DB,
      "CREATE TABLE IF NOT EXISTS kept (v text); INSERT INTO kept VALUES ('production data');",
    );
    const r = await tossIn(['db', 'reset', 'production']);
    expect(r.code, r.output).toBe(1);
    expect(r.stderr).toContain("refusing to reset production's database");
    expect(await rows(PROD_ROLE, PROD_DB, 'SELECT v FROM kept;')).toEqual(['production data']);
  });
});

describe('toss db dump', () => {
  it("prints pr-1's database as SQL and nothing else: it restores into an empty database", async () => {
    const r = await tossIn(['db', 'dump', PREVIEW]);
    expect(r.code, r.output).toBe(0);
    // pg_dump's first and last lines (PostgreSQL 15.14 and later wrap the dump in \restrict and
    // \unrestrict with a random key).
    expect(r.stdout).toMatch(/^--\n-- PostgreSQL database dump\n--\n\n/);
    expect(r.stdout).toMatch(
      /\n-- PostgreSQL database dump complete\n--\n\n(?:\\unrestrict [A-Za-z0-9]+\n\n)?$/,
    );
    expect(r.stdout).toContain('CREATE TABLE public.notes (');
    expect(r.stdout).toContain(
      `COPY public.notes (id, body) FROM stdin;\n1\tseed 1\n2\tseed 2\n3\tseed 3\n\\.\n`,
    );
    // --no-owner --no-privileges: no role of this server in it.
    expect(r.stdout).not.toContain('OWNER TO');
    expect(r.stdout).not.toMatch(/^(GRANT|REVOKE) /m);
    // Nothing on stderr but toss's own line: pg_dump, run as the role, had nothing to say (a
    // working directory it cannot enter, root's home, would make it complain).
    expect(r.stderr).toBe(`dumped ${PREVIEW}'s database: ${Buffer.byteLength(r.stdout)} bytes\n`);

    // The whole of stdout is SQL psql runs without an error.
    expect(
      (await host.exec(['runuser', '-u', 'postgres', '--', 'createdb', 'dump_check'])).code,
    ).toBe(0);
    const restore = await host.exec(
      [
        'runuser',
        '-u',
        'postgres',
        '--',
        'psql',
        '-X',
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '-d',
        'dump_check',
        '-f',
        '-',
      ],
      { input: r.stdout },
    );
    expect(restore.code, restore.stderr).toBe(0);
    expect(await rows('postgres', 'dump_check', 'SELECT body FROM notes ORDER BY id;')).toEqual(
      SEED_ROWS,
    );
  });

  it('refuses an environment that does not exist', async () => {
    const r = await tossIn(['db', 'dump', 'pr-9']);
    expect(r.code, r.output).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('notes has no environment pr-9');
  });
});
