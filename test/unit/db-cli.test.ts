/**
 * `toss db shell|reset|dump`: the commands they run on the server (as the environment's role,
 * quoted for the remote shell), the template a reset copies, and the refusals, against the
 * recording fake server. The real PostgreSQL is in test/e2e/database-cli.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { TossConfigInput } from '../../src/config/schema.js';
import { TossError } from '../../src/errors.js';
import {
  databaseTarget,
  dbDumpArgv,
  dbShellCommand,
  dumpDatabase,
  newestTemplate,
  resetDatabase,
} from '../../src/pipeline/db.js';
import { deploy } from '../../src/pipeline/deploy.js';
import { StepError } from '../../src/pipeline/step.js';
import { seedHash, templateName } from '../../src/server/database.js';
import { ACTOR, eventLog, FakeHost, LOGIN, testConfig } from '../support/fake-server.js';

const SOURCE = mkdtempSync(join(tmpdir(), 'toss-db-cli-src-'));
mkdirSync(join(SOURCE, 'db'));
const SEED = 'CREATE TABLE notes (body text);\n';
writeFileSync(join(SOURCE, 'db/seed.sql'), SEED);
const TEMPLATE = templateName('shop', seedHash(SEED));
const OLDER = templateName('shop', seedHash('older seed'));

const withDatabase: Partial<TossConfigInput> = {
  database: { engine: 'postgres', seed: 'db/seed.sql' },
};

/** The words a POSIX shell makes of a command line (printed one per line by printf). */
function shellWords(line: string): string[] {
  const out = execFileSync('sh', ['-c', `printf '%s\\n' ${line}`], { encoding: 'utf8' });
  return out.split('\n').slice(0, -1);
}

describe('what runs on the server', () => {
  it("db shell: psql as the preview's role, in its database, from /", () => {
    const target = databaseTarget('shop', 'pr-1');
    const argv = [
      'runuser',
      '-u',
      'toss-shop_pv',
      '--',
      'env',
      '--chdir=/',
      'PSQL_HISTORY=/dev/null',
      'psql',
      '-h',
      '/var/run/postgresql',
      '-U',
      'toss-shop_pv',
      '-d',
      'toss_shop_pr-1',
    ];
    expect(shellWords(dbShellCommand(target, false))).toEqual(argv);
    expect(shellWords(dbShellCommand(target, true))).toEqual(['sudo', '-n', '--', ...argv]);
  });

  it("db shell: production's role and database are production's own", () => {
    const words = shellWords(dbShellCommand(databaseTarget('shop', 'production'), false));
    expect(words.slice(0, 3)).toEqual(['runuser', '-u', 'toss-shop']);
    expect(words.slice(-4)).toEqual(['-U', 'toss-shop', '-d', 'toss_shop_production']);
  });

  it('db shell: a long app name gives the cut user and database names, still one word each', () => {
    const app = 'a'.repeat(40);
    const target = databaseTarget(app, 'feature-with-a-long-branch-name');
    const words = shellWords(dbShellCommand(target, false));
    expect(words[2]).toBe(target.role);
    expect(target.role.length).toBeLessThanOrEqual(32);
    expect(words.at(-1)).toBe(target.database);
    expect(target.database.length).toBeLessThanOrEqual(63);
  });

  it('refuses an environment name that is not one before anything is built', () => {
    for (const bad of ['pr-1; id', '../x', '', 'Prod']) {
      expect(() => databaseTarget('shop', bad)).toThrow(/expected an environment name/);
    }
  });

  it('db dump: plain SQL with no owners or grants, as the role', () => {
    expect(dbDumpArgv(databaseTarget('shop', 'pr-3'))).toEqual([
      'runuser',
      '-u',
      'toss-shop_pv',
      '--',
      'env',
      '--chdir=/',
      'PSQL_HISTORY=/dev/null',
      'pg_dump',
      '-h',
      '/var/run/postgresql',
      '-U',
      'toss-shop_pv',
      '--format=plain',
      '--no-owner',
      '--no-privileges',
      '-d',
      'toss_shop_pr-3',
    ]);
  });
});

describe('the template a reset copies', () => {
  const sealed = (name: string) => ({ name, comment: `toss seed sha256:${'0'.repeat(64)}` });

  it('is the newest sealed template of the app, by oid order', () => {
    const listed = [
      sealed(OLDER),
      { name: 'toss_shop_pr-1', comment: `toss copy of ${OLDER}` },
      sealed(TEMPLATE),
      { name: 'toss_shop_production', comment: '' },
    ];
    expect(newestTemplate('shop', listed)).toBe(TEMPLATE);
    expect(newestTemplate('shop', [sealed(TEMPLATE), sealed(OLDER)])).toBe(OLDER);
  });

  it('skips a template being seeded (not sealed) and other databases', () => {
    const listed = [sealed(OLDER), { name: TEMPLATE, comment: '' }];
    expect(newestTemplate('shop', listed)).toBe(OLDER);
  });

  it('is template0 when the app has none', () => {
    expect(newestTemplate('shop', [])).toBe('template0');
    expect(newestTemplate('shop', [{ name: 'toss_shop_production', comment: '' }])).toBe(
      'template0',
    );
    // Another app's template is not this app's, even when one name starts the other.
    const other = templateName('shop-x', seedHash(SEED));
    expect(newestTemplate('shop', [sealed(other)])).toBe('template0');
  });
});

let host: FakeHost;

beforeEach(() => {
  host = new FakeHost();
  host.databases = new Set();
  // The fake lists no comments: sealed templates get theirs here, as sealTemplateRun sets them.
  host.on('list databases', () => ({
    stdout: [...host.databases!]
      .filter((name) => name.startsWith('toss_shop_'))
      .map((name) => `${name}\t${name.includes('__seed_') ? 'toss seed sha256:x' : ''}\n`)
      .join(''),
  }));
});

async function deployTo(environment: string, config = withDatabase): Promise<void> {
  await deploy(
    {
      config: testConfig(config),
      login: LOGIN,
      actor: ACTOR,
      lockWaitSeconds: 0,
      connect: host.connect,
      environment,
      sourceDir: SOURCE,
      origin: 'https://github.com/octo/shop',
      commit: 'c'.repeat(40),
      overrides: [],
    },
    eventLog().sink,
  );
}

function reset(environment: string, config = withDatabase) {
  const log = eventLog();
  const run = resetDatabase(
    {
      config: testConfig(config),
      login: LOGIN,
      actor: ACTOR,
      lockWaitSeconds: 0,
      connect: host.connect,
      environment,
    },
    log.sink,
  );
  return { run, log };
}

/** The error a run failed with, unwrapped from its step. */
async function failure(run: Promise<unknown>): Promise<TossError> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  const cause = error instanceof StepError ? error.cause : error;
  expect(cause).toBeInstanceOf(TossError);
  return cause as TossError;
}

const psqlVariable = (argv: readonly string[], name: string) =>
  argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);

describe('toss db reset', () => {
  it("drops the preview's database and copies the newest template again, under the lock", async () => {
    await deployTo('production');
    await deployTo('pr-1');
    host.reset();
    const { run, log } = reset('pr-1');
    expect(await run).toEqual({
      environment: 'pr-1',
      database: 'toss_shop_pr-1',
      template: TEMPLATE,
    });
    const sql = host.find('sql');
    expect(sql).toHaveLength(1);
    expect(sql[0]!.kind).toBe('guarded');
    expect(psqlVariable(sql[0]!.argv, 'db')).toBe('toss_shop_pr-1');
    expect(psqlVariable(sql[0]!.argv, 'tpl')).toBe(TEMPLATE);
    expect(psqlVariable(sql[0]!.argv, 'role')).toBe('toss-shop_pv');
    // Dropped first, its connections ended: the drop comes before the copy.
    const stdin = sql[0]!.stdin ?? '';
    expect(stdin).toContain('DROP DATABASE IF EXISTS %I WITH (FORCE)');
    expect(stdin.indexOf('DROP DATABASE')).toBeLessThan(stdin.indexOf('CREATE DATABASE'));
    expect(log.steps()).toEqual([
      'start connect',
      'done connect',
      'start lock',
      'done lock',
      'start database',
      'done database',
    ]);
    expect(host.state('shop')?.lock).toBeNull();
    expect(host.closed).toBe(host.connections);
  });

  it('copies template0 when the app has no seed', async () => {
    const noSeed: Partial<TossConfigInput> = { database: { engine: 'postgres' } };
    await deployTo('production', noSeed);
    await deployTo('staging', noSeed);
    host.reset();
    expect((await reset('staging', noSeed).run).template).toBe('template0');
  });

  it('refuses production without connecting', async () => {
    const error = await failure(reset('production').run);
    expect(error.message).toContain("refusing to reset production's database");
    expect(error.hint).toContain('toss db dump production');
    expect(host.connections).toBe(0);
  });

  it('refuses an environment that does not exist, before the lock', async () => {
    await deployTo('production');
    host.reset();
    const error = await failure(reset('pr-9').run);
    expect(error.message).toBe('shop has no environment pr-9 on this server');
    expect(error.hint).toBe('environments: production');
    expect(host.find('sql')).toEqual([]);
    expect(host.state('shop')?.lock).toBeNull();
  });

  it('refuses an environment without a database, saying how to get one', async () => {
    await deployTo('production', {});
    await deployTo('pr-1', {});
    host.reset();
    const error = await failure(reset('pr-1', {}).run);
    expect(error.message).toBe(
      'pr-1 of shop has no database (toss_shop_pr-1 is not on the server)',
    );
    expect(error.hint).toContain('add "database"');
    expect(host.find('sql')).toEqual([]);
    // toss.json has it, the server not yet: a deploy makes it.
    const again = await failure(reset('pr-1').run);
    expect(again.hint).toContain('toss deploy pr-1');
  });

  it('says how to install PostgreSQL when it does not answer', async () => {
    await deployTo('production');
    await deployTo('pr-1');
    host.on('list databases', { code: 2, stderr: 'psql: error: connection refused\n' });
    const error = await failure(reset('pr-1').run);
    expect(error.message).toBe(
      'PostgreSQL does not answer on the server (psql: error: connection refused)',
    );
    expect(error.hint).toContain('toss init');
  });
});

describe('toss db dump', () => {
  function dump(environment: string) {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const run = dumpDatabase({
      config: testConfig(withDatabase),
      login: LOGIN,
      environment,
      connect: host.connect,
      write: (c) => out.push(c),
      writeErr: (c) => err.push(c),
    });
    return { run, out, err };
  }

  const isDump = (c: { argv: string[] }) => c.argv.includes('pg_dump');

  it('runs pg_dump as the role over the session', async () => {
    await deployTo('production');
    await deployTo('pr-1');
    host.on(isDump, { stdout: '-- dump\n' });
    host.reset();
    await dump('pr-1').run;
    const ran = host.ran().filter(isDump);
    expect(ran.map((c) => c.argv)).toEqual([dbDumpArgv(databaseTarget('shop', 'pr-1'))]);
    expect(ran[0]!.kind).toBe('root');
    expect(host.state('shop')?.lock).toBeNull();
  });

  it('fails when pg_dump does, saying the output is incomplete', async () => {
    await deployTo('production');
    await deployTo('pr-1');
    host.on(isDump, { code: 1, stderr: 'pg_dump: error: permission denied for table x\n' });
    const error = await failure(dump('pr-1').run);
    expect(error.message).toBe(
      'pg_dump of toss_shop_pr-1 failed (exit 1); the dump written so far is incomplete',
    );
  });

  it('refuses an environment that does not exist, and runs no pg_dump', async () => {
    await deployTo('production');
    const error = await failure(dump('pr-2').run);
    expect(error.message).toBe('shop has no environment pr-2 on this server');
    expect(host.ran().filter(isDump)).toEqual([]);
  });
});
