/**
 * The bench's databases (toss.json `database`, issue 17), on one test host with Debian 12's
 * PostgreSQL 15:
 *   copy        a ready preview database from a ~100 MB template (600,000 rows and a primary key,
 *               made as server/database.ts makes a template: the previews' role owns the objects,
 *               then sealed by its own sealTemplateRun), each way COPY_RUNS times, the copy dropped
 *               in between and PostgreSQL checkpointed and the disk synced before each:
 *                 CREATE DATABASE … STRATEGY FILE_COPY: toss's own run (cloneDatabaseRun)
 *                 the same with STRATEGY WAL_LOG, and the CHECKPOINT after it that writes the pages
 *                   it left dirty in shared buffers (a cost WAL_LOG defers, not one it saves)
 *                 pg_dump | psql into a new database: what a tool without templates does
 *               Floor: `cp -a` of the template's directory (base/<oid>) then `sync`: the bare cost
 *               of copying those bytes to disk. Timed inside the host, so no exec overhead counts.
 *   first deploy  a preview's first deploy of examples/notes, DEPLOY_RUNS times each: without a
 *               database, with one copied from its 3-row seed's template, and from a template of the
 *               copy bench's size (its seed plus 600,000 rows in a table the page does not list);
 *               the templates already built, so with a database this is the copy and the step's
 *               round trips. The previews have no deployScript (migrate.py needs a database), so
 *               `database` is the only difference. A preview follows its production's `database`, so
 *               "without" is an app of its own, whose page answers [] with no DATABASE_URL (toss's
 *               HTTPS check waits out a 5xx). The step's own time is the CLI's "Database done in"
 *               line, its remote commands TOSS_TRACE=1's lines printed within the step.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cloneDatabaseRun,
  databaseName,
  databaseRole,
  dropDatabaseRun,
  prepareTemplateRun,
  type SqlRun,
  sealTemplateRun,
  seedHash,
  templateName,
} from '../src/server/database.js';
import type { TestHost } from '../test/e2e/harness/types.js';
import { inHost, makeApp, toss } from '../test/e2e/support/app.js';
import { waitForPostgres } from '../test/e2e/support/postgres.js';

const COPY_RUNS = 5;
const DEPLOY_RUNS = 3;
/** 600,000 rows of ~100 bytes and their primary key: ~101 MiB with the catalog. */
const ROWS = 600_000;
const APP = 'benchdb';
const COPY_TARGET_MS = 2000;

export type CopyMethod = 'floor' | 'fileCopy' | 'walLog' | 'walLogCheckpoint' | 'dump';

export interface DatabaseBench {
  templateBytes: number;
  copies: Record<CopyMethod, number[]>;
  /** each variant of a preview's first deploy, its samples */
  deploys: Map<string, DeploySample[]>;
  /** the first preview's deploy, which seeded the template: one sample per seed */
  seeding: Map<string, DeploySample>;
  notesTemplateBytes: number;
}

/** psql as postgres on the local socket, the script on stdin, names as psql variables. */
function psqlArgv(database: string, variables: Record<string, string> = {}): string[] {
  const argv = ['runuser', '-u', 'postgres', '--', 'psql', '-X', '-q', '-At'];
  argv.push('-v', 'ON_ERROR_STOP=1', '-d', database);
  for (const [key, value] of Object.entries(variables)) argv.push('-v', `${key}=${value}`);
  return [...argv, '-f', '-'];
}

async function sql(
  host: TestHost,
  script: string,
  variables: Record<string, string> = {},
  database = 'postgres',
): Promise<string> {
  return run(host, { argv: psqlArgv(database, variables), stdin: script });
}

async function run(host: TestHost, r: SqlRun): Promise<string> {
  const result = await host.exec(r.argv, { input: r.stdin, timeoutMs: 600_000 });
  if (result.code !== 0)
    throw new Error(`${r.argv.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout.trim();
}

// Runs "$@" (its stdout dropped) and prints how long it took, µs, timed inside the host.
const TIMED =
  's=$(date +%s%N); "$@" >/dev/null || exit $?; e=$(date +%s%N); echo $(((e - s) / 1000))';

/** ms that argv took inside the host. */
async function timedInHost(host: TestHost, argv: string[], stdin = ''): Promise<number> {
  const out = await run(host, { argv: ['sh', '-c', TIMED, 'timed', ...argv], stdin });
  return Number(out) / 1000;
}

/** Every dirty page on disk before a measurement, so none is paid for by the next. */
async function settle(host: TestHost): Promise<void> {
  await sql(host, 'CHECKPOINT;');
  await inHost(host, ['sync']);
}

/** How many files under dir, and their bytes. */
async function fileBytes(host: TestHost, dir: string): Promise<string> {
  const sizes = (await inHost(host, ['find', dir, '-type', 'f', '-printf', '%s\n'])).split('\n');
  const files = sizes.filter((line) => line !== '');
  return `${files.length} files, ${files.reduce((sum, line) => sum + Number(line), 0)} bytes`;
}

/** The copy has the template's rows (a copy that silently came out empty would time well). */
async function checkCopy(host: TestHost, database: string): Promise<void> {
  const count = await sql(host, 'SELECT count(*) FROM items;', {}, database);
  if (Number(count) !== ROWS) throw new Error(`${database} has ${count} rows, not ${ROWS}`);
}

async function copyBench(host: TestHost, log: (t: string) => void) {
  const hash = seedHash(`bench-database ${ROWS} rows`);
  const template = templateName(APP, hash);
  const role = databaseRole(APP, 'pr-1');
  log(`database: building a template of ${ROWS.toLocaleString('en')} rows`);
  await run(host, prepareTemplateRun(APP, template));
  // As a seed makes it: the previews' role owns what it creates.
  await sql(
    host,
    `SET ROLE :"role";
CREATE TABLE items (id bigint PRIMARY KEY, body text NOT NULL);
INSERT INTO items SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, :rows) g;
`,
    { role, rows: String(ROWS) },
    template,
  );
  await run(host, sealTemplateRun(APP, template, hash));
  const templateBytes = Number(
    await sql(host, `SELECT pg_database_size(:'tpl');`, { tpl: template }),
  );
  const oid = await sql(host, `SELECT oid FROM pg_database WHERE datname = :'tpl';`, {
    tpl: template,
  });
  const dataDir = await sql(host, 'SHOW data_directory;');
  const source = `${dataDir}/base/${oid}`;
  const floorCopy = '/var/lib/postgresql/bench-floor-copy';

  const copies: Record<CopyMethod, number[]> = {
    floor: [],
    fileCopy: [],
    walLog: [],
    walLogCheckpoint: [],
    dump: [],
  };
  const measures: [CopyMethod, () => Promise<void>][] = [
    [
      'floor',
      async () => {
        copies.floor.push(
          await timedInHost(host, [
            'sh',
            '-c',
            'cp -a -- "$1" "$2" && sync',
            'floor',
            source,
            floorCopy,
          ]),
        );
        const [a, b] = [await fileBytes(host, source), await fileBytes(host, floorCopy)];
        if (a !== b) throw new Error(`cp -a copied ${b} bytes of ${a}`);
        await inHost(host, ['rm', '-rf', '--', floorCopy]);
      },
    ],
    [
      'fileCopy',
      async () => {
        // toss's own run for a preview's first deploy, as is.
        const clone = cloneDatabaseRun(APP, 'pr-1', template);
        copies.fileCopy.push(await timedInHost(host, clone.argv, clone.stdin));
        await checkCopy(host, databaseName(APP, 'pr-1'));
        await run(host, dropDatabaseRun(APP, 'pr-1'));
      },
    ],
    [
      'walLog',
      async () => {
        const clone = cloneDatabaseRun(APP, 'pr-1', template);
        const stdin = clone.stdin.replace('STRATEGY FILE_COPY', 'STRATEGY WAL_LOG');
        if (stdin === clone.stdin) throw new Error('cloneDatabaseRun no longer says FILE_COPY');
        const ms = await timedInHost(host, clone.argv, stdin);
        copies.walLog.push(ms);
        const checkpoint = psqlArgv('postgres');
        copies.walLogCheckpoint.push(ms + (await timedInHost(host, checkpoint, 'CHECKPOINT;')));
        await checkCopy(host, databaseName(APP, 'pr-1'));
        await run(host, dropDatabaseRun(APP, 'pr-1'));
      },
    ],
    [
      'dump',
      async () => {
        const vars = { tpl: template };
        await sql(host, `ALTER DATABASE :"tpl" WITH ALLOW_CONNECTIONS true;`, vars);
        const restore =
          'set -o pipefail; createdb -T template0 -O "$2" -- "$3" && pg_dump -d "$1" | psql -X -q -v ON_ERROR_STOP=1 -d "$3"';
        copies.dump.push(
          await timedInHost(host, [
            ...['runuser', '-u', 'postgres', '--', 'bash', '-c', restore, 'restore'],
            ...[template, role, 'bench_restore'],
          ]),
        );
        await sql(host, `ALTER DATABASE :"tpl" WITH ALLOW_CONNECTIONS false;`, vars);
        await checkCopy(host, 'bench_restore');
        await sql(host, 'DROP DATABASE bench_restore;');
      },
    ],
  ];
  for (let i = 0; i < COPY_RUNS; i++) {
    log(`database: copies, round ${i + 1}/${COPY_RUNS}`);
    // Each round in another order, so no way is always the one after the same other.
    for (let k = 0; k < measures.length; k++) {
      const [, measure] = measures[(i + k) % measures.length] as [CopyMethod, () => Promise<void>];
      await settle(host);
      await measure();
    }
  }
  return { templateBytes, copies };
}

const EXAMPLE = join(import.meta.dirname, '../examples/notes');

/** examples/notes's seed and, in a table the app does not list, ~100 MB as the copy bench's. */
const BIG_SEED = `${readFileSync(join(EXAMPLE, 'db/seed.sql'), 'utf8')}
-- The bulk of the data: ${ROWS} rows the app never lists, so its page stays small.
CREATE TABLE items (id bigint PRIMARY KEY, body text NOT NULL);
INSERT INTO items SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, ${ROWS}) g;
`;

// examples/notes with no database: its page answers [] (toss's HTTPS check waits out a 5xx).
const LIST_NOTES = '    rows = query("SELECT id, body FROM notes ORDER BY id")\n';
const LIST_NOTHING = `    if "DATABASE_URL" not in os.environ:\n        return jsonify([])\n${LIST_NOTES}`;

interface DeploySample {
  ms: number;
  /** the Database step's "done in" figure, 0.1 s steps */
  step?: number;
  /** the remote commands run inside the Database step (TOSS_TRACE=1), their ms */
  commands: number[];
  /** the step's "done in" line */
  detail: string;
}

async function deployBench(host: TestHost, log: (t: string) => void) {
  const more = { maxPreviews: 20 };
  // Production of the app with a database, from examples/notes as is (its migration makes the
  // table the page lists); previews from checkouts with no deployScript.
  const production = await makeApp(host, { app: 'notes', ...more }, undefined, 'notes');
  const previews = { app: 'notes', deployScript: undefined, ...more };
  const seeded = await makeApp(host, previews, undefined, 'notes');
  const big = await makeApp(host, previews, undefined, 'notes');
  await big.commit('db/seed.sql', BIG_SEED);
  // A preview follows its production's `database`: no database takes an app of its own.
  const plain = await makeApp(
    host,
    { app: 'notesplain', database: undefined, deployScript: undefined, ...more },
    undefined,
    'notes',
  );
  const appPy = readFileSync(join(EXAMPLE, 'app.py'), 'utf8');
  if (!appPy.includes(LIST_NOTES)) throw new Error('examples/notes/app.py: list_notes changed');
  await plain.commit('app.py', appPy.replace(LIST_NOTES, LIST_NOTHING));

  let pr = 0;
  const deploy = async (dir: string, environment = `pr-${++pr}`): Promise<DeploySample> => {
    const started = performance.now();
    const result = await toss(host, ['deploy', environment], {
      cwd: dir,
      env: { TOSS_TRACE: '1' },
    });
    const ms = performance.now() - started;
    if (result.code !== 0) throw new Error(`deploy ${environment} failed:\n${result.output}`);
    // A deploy that waited out the HTTPS check timed the wait, not the deploy.
    if (result.output.includes('did not answer through Caddy'))
      throw new Error(`deploy ${environment}: the site did not answer:\n${result.output}`);
    const lines = result.output.split('\n');
    const begin = lines.indexOf('toss: Database…');
    const done = lines.findIndex((line) => line.startsWith('toss: Database done in '));
    const commands = lines
      .slice(begin + 1, done)
      .filter((line) => line.startsWith('toss-trace: '))
      .map((line) => Number(line.split(' ')[2]) * 1000);
    return {
      ms,
      step:
        done >= 0 ? Number(/done in ([\d.]+)s/.exec(lines[done] as string)?.[1]) * 1000 : undefined,
      commands: begin >= 0 && done > begin ? commands : [],
      detail: done >= 0 ? (lines[done] as string) : '',
    };
  };

  log('database: examples/notes, production and a first preview of each kind (templates built)');
  await deploy(production.dir, 'production');
  const seededFirst = await deploy(seeded.dir);
  const bigFirst = await deploy(big.dir);
  for (const first of [seededFirst, bigFirst])
    if (!first.detail.includes('seeded from db/seed.sql'))
      throw new Error(`the first preview did not seed a template: ${first.detail}`);
  await deploy(plain.dir, 'production');
  await deploy(plain.dir);
  const bigTemplate = templateName('notes', seedHash(BIG_SEED));
  const notesTemplateBytes = Number(
    await sql(host, `SELECT pg_database_size(:'tpl');`, { tpl: bigTemplate }),
  );

  const variants: [string, string, string | undefined][] = [
    ['without database', plain.dir, undefined],
    [
      'database, 3-row seed',
      seeded.dir,
      templateName('notes', seedHash(readFileSync(join(EXAMPLE, 'db/seed.sql')))),
    ],
    ['database, ~100 MB seed', big.dir, bigTemplate],
  ];
  const deploys = new Map<string, DeploySample[]>(variants.map(([label]) => [label, []]));
  for (let i = 0; i < DEPLOY_RUNS; i++) {
    log(`database: first deploys, round ${i + 1}/${DEPLOY_RUNS}`);
    for (let k = 0; k < variants.length; k++) {
      const [label, dir, template] = variants[(i + k) % variants.length] as (typeof variants)[0];
      const sample = await deploy(dir);
      // The copy of the template already there, nothing else; and no step at all without.
      const copied = template !== undefined && sample.detail.endsWith(`a copy of ${template})`);
      if (template === undefined ? sample.step !== undefined : !copied)
        throw new Error(`${label}: unexpected Database step: ${sample.detail || 'none'}`);
      deploys.get(label)?.push(sample);
    }
  }
  // The first preview after a seed change seeds the template too: one sample each.
  const seeding = new Map([
    ['database, 3-row seed', seededFirst],
    ['database, ~100 MB seed', bigFirst],
  ]);
  return { deploys, seeding, notesTemplateBytes };
}

export async function benchDatabase(
  host: TestHost,
  log: (t: string) => void,
): Promise<DatabaseBench> {
  await waitForPostgres(host);
  const { templateBytes, copies } = await copyBench(host, log);
  const { deploys, seeding, notesTemplateBytes } = await deployBench(host, log);
  return { templateBytes, copies, deploys, seeding, notesTemplateBytes };
}

/** Prints the figures; returns how many targets were missed. */
export function reportDatabase(b: DatabaseBench, median: (xs: number[]) => number): number {
  const mib = (x: number) => `${(x / 2 ** 20).toFixed(0)} MiB`;
  const floor = median(b.copies.floor);
  const rows: [CopyMethod, string][] = [
    ['floor', 'floor: cp -a base/<oid> + sync'],
    ['fileCopy', 'STRATEGY FILE_COPY (toss)'],
    ['walLog', 'STRATEGY WAL_LOG'],
    ['walLogCheckpoint', 'STRATEGY WAL_LOG + CHECKPOINT'],
    ['dump', 'pg_dump | psql'],
  ];
  let missed = 0;
  console.log(
    `\npreview database from a ${mib(b.templateBytes)} template (${ROWS.toLocaleString('en')} rows + primary key), ` +
      `${COPY_RUNS} runs each, medians; ratio = median ÷ median floor of this run\n`,
  );
  console.log(`${'copy'.padEnd(34)}${'median ms'.padStart(10)}${'ratio'.padStart(8)}   target`);
  for (const [key, label] of rows) {
    const ms = median(b.copies[key]);
    let verdict = '';
    if (key === 'fileCopy') {
      const ok = ms < COPY_TARGET_MS;
      if (!ok) missed++;
      verdict = `< ${COPY_TARGET_MS / 1000} s: ${ok ? 'met' : 'MISSED'}`;
    }
    console.log(
      `${label.padEnd(34)}${ms.toFixed(0).padStart(10)}${`${(ms / floor).toFixed(2)}×`.padStart(8)}   ${verdict}`.trimEnd(),
    );
  }
  console.log('samples (ms):');
  for (const [key, label] of rows)
    console.log(`  ${label.padEnd(32)}${b.copies[key].map((x) => x.toFixed(0)).join('  ')}`);

  const [base] = [...b.deploys.values()];
  const baseMs = median((base ?? []).map((d) => d.ms));
  const secs = (ms: number) => (ms / 1000).toFixed(2);
  console.log(
    `\na preview's first deploy of examples/notes (templates already built, the ~100 MB one ${mib(b.notesTemplateBytes)}), ` +
      `${DEPLOY_RUNS} runs each, medians; ratio = median ÷ median without database; ` +
      'step = the CLI\'s "Database done in", its commands = TOSS_TRACE=1\'s inside it\n',
  );
  console.log(
    `${'variant'.padEnd(26)}${'deploy s'.padStart(9)}${'added s'.padStart(9)}${'ratio'.padStart(8)}${'step s'.padStart(8)}${'commands'.padStart(10)}${'their s'.padStart(9)}`,
  );
  for (const [label, list] of b.deploys) {
    const ms = median(list.map((d) => d.ms));
    const added = ms - baseMs;
    const steps = list.flatMap((d) => (d.step === undefined ? [] : [d.step]));
    const dash = (width: number) => '—'.padStart(width);
    const [step, count, their] =
      steps.length === 0
        ? [dash(8), dash(10), dash(9)]
        : [
            (median(steps) / 1000).toFixed(1).padStart(8),
            String(median(list.map((d) => d.commands.length))).padStart(10),
            secs(median(list.map((d) => d.commands.reduce((a, c) => a + c, 0)))).padStart(9),
          ];
    console.log(
      `${label.padEnd(26)}${secs(ms).padStart(9)}${(list === base ? '—' : `${added < 0 ? '−' : '+'}${secs(Math.abs(added))}`).padStart(9)}${`${(ms / baseMs).toFixed(2)}×`.padStart(8)}${step}${count}${their}`,
    );
  }
  console.log('samples (s):');
  for (const [label, list] of b.deploys)
    console.log(`  ${label.padEnd(24)}${list.map((d) => secs(d.ms)).join('  ')}`);
  console.log('the first preview after a seed change, which seeds the template (one run each):');
  for (const [label, d] of b.seeding)
    console.log(
      `  ${label.padEnd(24)}deploy ${secs(d.ms)} s, step ${((d.step ?? 0) / 1000).toFixed(1)} s`,
    );
  return missed;
}
