/**
 * toss.json `database` against the recording fake server: which SQL runs when (production made
 * once and kept, a preview's template seeded once per seed content and copied for each preview,
 * dropped with it), the variables every release gets, and a server without PostgreSQL. The real
 * PostgreSQL is in test/e2e/database.test.ts.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { TossConfigInput } from '../../src/config/schema.js';
import { deploy } from '../../src/pipeline/deploy.js';
import { remove } from '../../src/pipeline/remove.js';
import type { DeployRequest } from '../../src/pipeline/request.js';
import { databaseName, seedHash, templateName } from '../../src/server/database.js';
import { ACTOR, eventLog, FakeHost, LOGIN, testConfig } from '../support/fake-server.js';

const SOURCE = mkdtempSync(join(tmpdir(), 'toss-db-src-'));
mkdirSync(join(SOURCE, 'db'));
const SEED = 'CREATE TABLE notes (body text);\n';
writeFileSync(join(SOURCE, 'db/seed.sql'), SEED);

let host: FakeHost;

beforeEach(() => {
  host = new FakeHost();
  host.databases = new Set();
});

const withDatabase: Partial<TossConfigInput> = {
  database: { engine: 'postgres', seed: 'db/seed.sql' },
};

function deployTo(
  environment: string,
  fields: Partial<DeployRequest> = {},
  config: Partial<TossConfigInput> = withDatabase,
) {
  const log = eventLog();
  const run = deploy(
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
      ...fields,
    },
    log.sink,
  );
  return { run, log };
}

const sqlRuns = () =>
  host.calls.flatMap((c) => c.commands.filter((x) => x.label === 'sql').map((x) => x.argv));
const variable = (argv: readonly string[], name: string) =>
  argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);

describe('a database per environment', () => {
  it("makes production's once, empty, and keeps it on the next deploy", async () => {
    await deployTo('production').run;
    expect([...host.databases!]).toEqual(['toss_shop_production']);
    expect(sqlRuns().map((argv) => variable(argv, 'role'))).toEqual(['toss-shop']);
    host.reset();
    await deployTo('production').run;
    expect(sqlRuns()).toEqual([]);
  });

  it("seeds the template once per seed, as the previews' user, and copies it per preview", async () => {
    await deployTo('production').run;
    host.reset();
    await deployTo('pr-1', { pr: 1 }).run;
    const template = templateName('shop', seedHash(SEED));
    // Made for the previews' role, seeded in the sandbox (a relayed systemd-run), sealed, copied.
    const seeding = host.calls
      .flatMap((c) => c.commands.filter((x) => x.ran))
      .filter((x) => x.label === 'sql' || x.argv.join(' ').includes('psql -X -q -v ON_ERROR_STOP'));
    expect(seeding.map((x) => x.label)).toEqual(['sql', 'build', 'sql', 'sql']);
    const seedRun = seeding[1]!.argv.join(' ');
    expect(seedRun).toContain(`--uid=toss-shop_pv`);
    expect(seedRun).toContain(`-d ${template} -f db/seed.sql`);
    expect(variable(seeding[3]!.argv, 'tpl')).toBe(template);
    expect(host.databases).toEqual(new Set(['toss_shop_production', template, 'toss_shop_pr-1']));

    host.reset();
    await deployTo('pr-2', { pr: 2 }).run;
    // The template is there: a copy only.
    expect(sqlRuns().map((argv) => variable(argv, 'db'))).toEqual(['toss_shop_pr-2']);
    host.reset();
    await deployTo('pr-2', { pr: 2 }).run;
    expect(sqlRuns()).toEqual([]);
  });

  it('seeds again a template a crashed deploy left unsealed, instead of copying it', async () => {
    await deployTo('production').run;
    const template = templateName('shop', seedHash(SEED));
    host.databases!.add(template);
    host.reset();
    await deployTo('pr-1', { pr: 1 }).run;
    const ran = host.calls.flatMap((c) => c.commands.filter((x) => x.ran));
    expect(ran.some((x) => x.argv.join(' ').includes(`-d ${template} -f db/seed.sql`))).toBe(true);
    expect(host.databaseComments.get(template)).toBe(`toss seed sha256:${seedHash(SEED)}`);
  });

  it('gives every release DATABASE_URL and the PG variables of its own database', async () => {
    await deployTo('production').run;
    await deployTo('pr-1', { pr: 1 }).run;
    const envFiles = [...host.files].filter(([path]) => /\/env\/[^/]+\.env$/.test(path));
    const prod = envFiles.find(([path]) => path.includes('/production/'))![1];
    const preview = envFiles.find(([path]) => path.includes('/pr-1/'))![1];
    expect(prod).toContain(
      'DATABASE_URL="postgresql://toss-shop@localhost/toss_shop_production?host=/var/run/postgresql"',
    );
    expect(prod).toContain('PGDATABASE="toss_shop_production"');
    expect(preview).toContain('PGUSER="toss-shop_pv"');
    expect(preview).toContain('PGDATABASE="toss_shop_pr-1"');
    expect(preview).not.toMatch(/password/i);
  });

  it("drops a preview's database with it, and keeps production's unless asked", async () => {
    await deployTo('production').run;
    await deployTo('pr-1', { pr: 1 }).run;
    const request = {
      config: testConfig(withDatabase),
      login: LOGIN,
      actor: ACTOR,
      lockWaitSeconds: 0,
      connect: host.connect,
    };
    await remove({ ...request, environment: 'pr-1', force: false }, eventLog().sink);
    expect(host.databases!.has('toss_shop_pr-1')).toBe(false);
    const log = eventLog();
    await remove({ ...request, environment: 'production', force: true }, log.sink);
    expect(host.databases!.has('toss_shop_production')).toBe(true);
    expect(log.notices().join('\n')).toContain('--drop-database');
    // The orphan is still removable by name, and goes when asked.
    await remove(
      { ...request, environment: 'production', force: true, dropDatabase: true },
      eventLog().sink,
    );
    expect(host.databases!.has('toss_shop_production')).toBe(false);
  });

  it("production's deploy installs PostgreSQL when the server has none", async () => {
    host.databases = undefined;
    const { run, log } = deployTo('production');
    await run;
    expect(host.databases).toEqual(new Set(['toss_shop_production']));
    const labels = host.calls.flatMap((c) => c.commands.filter((x) => x.ran).map((x) => x.label));
    expect(labels).toEqual(expect.arrayContaining(['dependency', 'ensure postgres']));
    const done = log.events.find((e) => e.type === 'step-done' && e.step === 'database');
    expect(done).toMatchObject({
      detail: 'toss_shop_production, created empty (PostgreSQL installed)',
    });
  });

  it('a preview says how to install PostgreSQL when the server has none, before anything goes live', async () => {
    host.databases = undefined;
    // Before any production deploy, a preview goes by its own toss.json; it never installs.
    const { run } = deployTo('pr-1', { pr: 1 });
    await expect(run).rejects.toThrow(/PostgreSQL does not answer on the server/);
    expect(host.running.has('toss-shop-pr-1@3002.service')).toBe(false);
  });

  it("a preview gets a database only when production's policy has one", async () => {
    await deployTo('production', {}, {}).run;
    host.reset();
    await deployTo('pr-1', { pr: 1 }).run;
    expect(sqlRuns()).toEqual([]);
    expect(host.databases!.size).toBe(0);
  });

  it('names are per app and environment, cut to PostgreSQL’s 63 bytes', () => {
    expect(databaseName('shop', 'pr-1')).toBe('toss_shop_pr-1');
    const long = databaseName('a'.repeat(40), `b${'-c'.repeat(20)}`);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(templateName('a'.repeat(40), seedHash('x')).length).toBe(63);
  });
});
