/**
 * The bench's scale section: many environments on one server cost no more than a few.
 *
 * One test host of its own; one app (examples/hello, its previews asleep after 10 s idle) grows
 * to 2, 50 and 200 environments (production plus previews pr-1…), each deployed by the real CLI
 * bundle as a child process. At each size, medians of RUNS:
 *   next deploy   a new preview's first deploy (the environment count goes to N+1), RUNS of them
 *   remove        `toss remove` of those RUNS new previews again (back to N environments)
 *   redeploy      pr-1 again with one file changed, a probe asking pr-1 every 50 ms throughout
 *   list          `toss list --json`
 *   status        `toss status`
 *   sweep         `toss sweep` with a ttl nothing is past (what it costs to look)
 * Then twenty apps on a second, fresh host, ten environments each (200 environments), deployed
 * a few apps at a time (one lock per app, so different apps run side by side), and the same
 * figures for one app among them. Production is probed every 50 ms throughout; a failed request
 * is a miss.
 * Targets: the next deploy at 200 within 1.2× of the one at 2; list and status under 1 s at 200;
 * remove at 200 within 1.2× of the one at 2.
 *
 * For a shorter look while working on it: TOSS_BENCH_SCALE_SIZES=2,200 (the sizes of the one-app
 * host) and TOSS_BENCH_SCALE_APPS=0 (no twenty-app host). TOSS_BENCH_SCALE_TRACE=1 adds one
 * traced run of each command at each size and prints its remote commands.
 */

import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bootHost } from '../test/e2e/harness/index.js';
import type { TestHost } from '../test/e2e/harness/types.js';
import {
  type AppCheckout,
  makeApp,
  type Probe,
  sslipName,
  startProbe,
} from '../test/e2e/support/app.js';

const ROOT = resolve(import.meta.dirname, '..');
const DEFAULT_SIZES = [2, 50, 200];
const RUNS = 3;
const APPS = 20;
const PER_APP = 10;
/** How many apps deploy at once while the twenty-app host fills. */
const PARALLEL_APPS = 3;
const RATIO_TARGET = 1.2;
const READ_TARGET_MS = 1000;

export type Figure = 'next' | 'redeploy' | 'list' | 'status' | 'remove' | 'sweep';
export const FIGURES: Figure[] = ['next', 'redeploy', 'list', 'status', 'remove', 'sweep'];

export interface ScaleRow {
  /** environments on the host when measured */
  size: number;
  /** apps on the host */
  apps: number;
  samples: Record<Figure, number[]>;
}

export interface ScaleResult {
  oneApp: ScaleRow[];
  manyApps: ScaleRow[];
  /** every deploy that filled the hosts, ms, in order (one app) */
  fillMs: number[];
  /** the twenty-app host's fill, wall ms */
  manyFillMs: number;
  /** failed probe requests (production throughout, pr-1 during its redeploys) */
  failures: string[];
  probed: number;
  /** TOSS_TRACE=1 output of one run of each command at each size, for finding what grows */
  traces: Map<string, string>;
}

export interface ScaleOptions {
  sizes?: number[];
  apps?: number;
  perApp?: number;
  /** also keep a TOSS_TRACE=1 run of each command at each size */
  trace?: boolean;
}

interface CliRun {
  ms: number;
  output: string;
}

/** The CLI bundle, copied so a rebuild of dist/ during the run cannot pull it away. */
function cliRunner(host: TestHost, scratch: string) {
  const cliDir = join(scratch, 'cli');
  cpSync(join(ROOT, 'dist/cli'), cliDir, { recursive: true });
  const cli = join(cliDir, 'index.js');
  const home = join(scratch, 'home');
  return (dir: string, args: string[], extraEnv: Record<string, string> = {}) =>
    new Promise<CliRun>((resolvePromise, reject) => {
      const started = performance.now();
      const child = spawn(process.execPath, [cli, ...args], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: home,
          TOSS_KNOWN_HOSTS: host.knownHostsPath,
          TOSS_SSH_KEY: host.keyPath,
          NO_COLOR: '1',
          ...extraEnv,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c: Buffer) => {
        output += c;
      });
      child.stderr.on('data', (c: Buffer) => {
        output += c;
      });
      child.on('error', reject);
      child.on('close', (code) => {
        const ms = performance.now() - started;
        if (code === 0) resolvePromise({ ms, output });
        else reject(new Error(`toss ${args.join(' ')} exited ${code}:\n${output.slice(-3000)}`));
      });
    });
}

type Cli = ReturnType<typeof cliRunner>;

const emptySamples = (): Record<Figure, number[]> => ({
  next: [],
  redeploy: [],
  list: [],
  status: [],
  remove: [],
  sweep: [],
});

/** A tiny app whose previews may be many, sleep when idle and expire only after 30 days. */
function scaleApp(host: TestHost, app: string): Promise<AppCheckout> {
  return makeApp(host, {
    app,
    maxPreviews: 400,
    previews: { sleepAfter: '10s', ttl: '30d' },
  });
}

interface Measure {
  cli: Cli;
  host: TestHost;
  app: string;
  checkout: AppCheckout;
  /** next free preview number of the app */
  nextPreview: () => number;
  failures: string[];
  probed: { count: number };
  traces: Map<string, string> | undefined;
  log: (text: string) => void;
}

/** One size's figures for one app; leaves the app with as many environments as it found. */
async function measureAt(m: Measure, size: number, apps: number): Promise<ScaleRow> {
  const { cli, checkout } = m;
  const samples = emptySamples();
  const label = `${apps === 1 ? 'one app' : `${apps} apps`} at ${size}`;
  const extra: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const env = `pr-${m.nextPreview()}`;
    extra.push(env);
    samples.next.push((await cli(checkout.dir, ['deploy', env])).ms);
  }
  for (const env of extra.reverse()) {
    samples.remove.push((await cli(checkout.dir, ['remove', env])).ms);
  }
  const probe = startProbe(m.host, sslipName(m.host, m.app, 'pr-1'), 50);
  const outputs: string[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      await checkout.commit('message.txt', `scale ${label} redeploy ${i}\n`);
      const run = await cli(checkout.dir, ['deploy', 'pr-1']);
      samples.redeploy.push(run.ms);
      outputs.push(run.output);
    }
  } finally {
    const failed = await countProbe(probe, `pr-1 during redeploys (${label})`, m);
    // What the deploys said while a request failed, to see which step it fell in.
    if (failed > 0) m.traces?.set(`${label}: redeploys with failed requests`, outputs.join('\n'));
  }
  for (let i = 0; i < RUNS; i++) {
    samples.list.push((await cli(checkout.dir, ['list', '--json'])).ms);
    samples.status.push((await cli(checkout.dir, ['status'])).ms);
    samples.sweep.push((await cli(checkout.dir, ['sweep'])).ms);
  }
  if (m.traces !== undefined) await traceAt(m, label);
  // Each size's figures as soon as they are in, so a run cut short still says something.
  const figures = FIGURES.map(
    (f) => `${f} ${samples[f].map((ms) => (ms / 1000).toFixed(2)).join('/')}`,
  );
  m.log(`scale: ${label}: ${figures.join(', ')} s`);
  return { size, apps, samples };
}

/** One traced run of each command (a new preview's deploy and its removal included). */
async function traceAt(m: Measure, label: string): Promise<void> {
  const traced = { TOSS_TRACE: '1' };
  const env = `pr-${m.nextPreview()}`;
  const runs: Array<[string, string[]]> = [
    ['next deploy', ['deploy', env]],
    ['redeploy', ['deploy', 'pr-1']],
    ['list', ['list', '--json']],
    ['status', ['status']],
    ['sweep', ['sweep']],
    ['remove', ['remove', env]],
  ];
  for (const [what, args] of runs) {
    if (what === 'redeploy') await m.checkout.commit('message.txt', `scale ${label} traced\n`);
    const run = await m.cli(m.checkout.dir, args, traced);
    m.traces?.set(`${label}: ${what} (${(run.ms / 1000).toFixed(2)} s)`, run.output);
  }
}

/** Stops the probe, keeps its failures; returns how many requests failed. */
async function countProbe(probe: Probe, what: string, m: Measure): Promise<number> {
  const result = await probe.stop();
  m.probed.count += result.ok + result.failed;
  for (const failure of result.failures.slice(0, 5)) m.failures.push(`${what}: ${failure}`);
  if (result.failed > 5) m.failures.push(`${what}: ${result.failed - 5} more failed`);
  return result.failed;
}

/** Deploys previews of one app until it has `size` environments (production counts). */
async function growTo(
  m: Measure,
  have: number,
  size: number,
  fillMs: number[],
  log: (t: string) => void,
) {
  for (let n = have; n < size; n++) {
    const started = performance.now();
    await m.cli(m.checkout.dir, ['deploy', `pr-${m.nextPreview()}`]);
    fillMs.push(performance.now() - started);
    if ((n + 1) % 25 === 0) log(`scale: ${n + 1} environments`);
  }
}

async function oneAppBench(
  host: TestHost,
  cli: Cli,
  sizes: number[],
  result: ScaleResult,
  trace: boolean,
  log: (t: string) => void,
): Promise<void> {
  const app = 'scale';
  const checkout = await scaleApp(host, app);
  let next = 1;
  const m: Measure = {
    cli,
    host,
    app,
    checkout,
    nextPreview: () => next++,
    failures: result.failures,
    probed: { count: 0 },
    traces: trace ? result.traces : undefined,
    log,
  };
  await cli(checkout.dir, ['deploy', 'production']);
  const production = startProbe(host, sslipName(host, app, 'production'), 50);
  try {
    let have = 1;
    for (const size of sizes) {
      await growTo(m, have, size, result.fillMs, log);
      have = size;
      log(`scale: one app, measuring at ${size} environments`);
      result.oneApp.push(await measureAt(m, size, 1));
    }
  } finally {
    await countProbe(production, 'production (one app)', m);
    result.probed += m.probed.count;
  }
}

/** Twenty apps, ten environments each, filled a few apps at a time; one of them measured. */
async function manyAppsBench(
  host: TestHost,
  cli: Cli,
  apps: number,
  perApp: number,
  result: ScaleResult,
  trace: boolean,
  log: (t: string) => void,
): Promise<void> {
  const names = Array.from({ length: apps }, (_, i) => `app${String(i + 1).padStart(2, '0')}`);
  const checkouts = await Promise.all(names.map((name) => scaleApp(host, name)));
  const started = performance.now();
  const queue = names.map((name, i) => ({ name, checkout: checkouts[i] as AppCheckout }));
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      await cli(item.checkout.dir, ['deploy', 'production']);
      for (let k = 1; k < perApp; k++) await cli(item.checkout.dir, ['deploy', `pr-${k}`]);
      log(`scale: ${item.name} has ${perApp} environments`);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_APPS }, worker));
  result.manyFillMs = performance.now() - started;
  const app = names[0] as string;
  let next = perApp;
  const m: Measure = {
    cli,
    host,
    app,
    checkout: checkouts[0] as AppCheckout,
    nextPreview: () => next++,
    failures: result.failures,
    probed: { count: 0 },
    traces: trace ? result.traces : undefined,
    log,
  };
  const production = startProbe(host, sslipName(host, app, 'production'), 50);
  try {
    log(`scale: ${apps} apps, measuring ${app} at ${apps * perApp} environments`);
    result.manyApps.push(await measureAt(m, apps * perApp, apps));
  } finally {
    await countProbe(production, `production (${apps} apps)`, m);
    result.probed += m.probed.count;
  }
}

export async function benchScale(
  log: (s: string) => void,
  options: ScaleOptions = {},
): Promise<ScaleResult> {
  const sizes = options.sizes ?? sizesFromEnv() ?? DEFAULT_SIZES;
  const result: ScaleResult = {
    oneApp: [],
    manyApps: [],
    fillMs: [],
    manyFillMs: 0,
    failures: [],
    probed: 0,
    traces: new Map(),
  };
  const scratch = mkdtempSync(join(tmpdir(), 'toss-bench-scale-'));
  try {
    log('scale: booting a test host for one app');
    const host = await bootHost();
    try {
      await oneAppBench(host, cliRunner(host, scratch), sizes, result, traced(options), log);
    } finally {
      await host.shutdown();
    }
    const apps = options.apps ?? appsFromEnv() ?? APPS;
    if (apps > 0) {
      log(`scale: booting a test host for ${apps} apps`);
      const many = await bootHost();
      try {
        const cli = cliRunner(many, mkdtempSync(join(scratch, 'many-')));
        await manyAppsBench(
          many,
          cli,
          apps,
          options.perApp ?? PER_APP,
          result,
          traced(options),
          log,
        );
      } finally {
        await many.shutdown();
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return result;
}

/** Traced runs at each size: the option, or TOSS_BENCH_SCALE_TRACE=1. */
function traced(options: ScaleOptions): boolean {
  return options.trace ?? process.env.TOSS_BENCH_SCALE_TRACE === '1';
}

function sizesFromEnv(): number[] | undefined {
  const text = process.env.TOSS_BENCH_SCALE_SIZES;
  if (text === undefined || text === '') return undefined;
  const sizes = text.split(',').map(Number);
  if (!sizes.every((n) => Number.isInteger(n) && n >= 2)) {
    throw new Error(`TOSS_BENCH_SCALE_SIZES: expected sizes of 2 or more, got ${text}`);
  }
  return sizes;
}

function appsFromEnv(): number | undefined {
  const text = process.env.TOSS_BENCH_SCALE_APPS;
  if (text === undefined || text === '') return undefined;
  const apps = Number(text);
  if (!Number.isInteger(apps) || apps < 0) {
    throw new Error(`TOSS_BENCH_SCALE_APPS: expected a number of apps, got ${text}`);
  }
  return apps;
}

const LABELS: Record<Figure, string> = {
  next: 'next new deploy',
  redeploy: 'redeploy (one file)',
  list: 'toss list --json',
  status: 'toss status',
  remove: 'toss remove',
  sweep: 'toss sweep',
};

/** Prints the table; returns how many targets were missed. */
export function reportScale(b: ScaleResult, median: (xs: number[]) => number): number {
  const secs = (ms: number) => (ms / 1000).toFixed(2);
  const rows = [...b.oneApp, ...b.manyApps];
  const first = b.oneApp[0];
  const last = b.oneApp[b.oneApp.length - 1];
  console.log(`\nscale: medians of ${RUNS}, s; environments on the host (apps)`);
  const head = rows.map((r) => `${r.size} (${r.apps})`.padStart(11)).join('');
  console.log(`${''.padEnd(22)}${head}   target`);
  let missed = 0;
  for (const figure of FIGURES) {
    const cells = rows.map((r) => secs(median(r.samples[figure])).padStart(11)).join('');
    const verdicts: string[] = [];
    for (const row of rows.slice(1)) {
      const verdict = targetOf(figure, first, row, median);
      if (verdict === undefined) continue;
      if (!verdict.met) missed++;
      verdicts.push(`${row.size} (${row.apps}): ${verdict.text} ${verdict.met ? 'met' : 'MISSED'}`);
    }
    console.log(`${LABELS[figure].padEnd(22)}${cells}   ${verdicts.join('; ')}`);
  }
  if (first !== undefined && last !== undefined) {
    const fill = b.fillMs;
    console.log(
      `filling one app: ${fill.length} deploys, first ${secs(fill[0] ?? 0)} s, last ${secs(fill[fill.length - 1] ?? 0)} s, median ${secs(fill.length ? median(fill) : 0)} s` +
        (b.manyApps.length
          ? `; ${b.manyApps[0]?.apps} apps filled in ${secs(b.manyFillMs)} s`
          : ''),
    );
  }
  console.log('samples (s):');
  for (const row of rows)
    for (const figure of FIGURES)
      console.log(
        `  ${`${row.size} (${row.apps})`.padEnd(10)}${LABELS[figure].padEnd(22)}${row.samples[figure].map(secs).join('  ')}`,
      );
  console.log(
    `probe: ${b.probed} requests, ${b.failures.length === 0 ? 'none failed' : 'failures:'}`,
  );
  for (const failure of b.failures.slice(0, 20)) console.log(`  ${failure}`);
  if (b.failures.length > 0) missed++;
  for (const [label, output] of b.traces) {
    const lines = output.split('\n').filter((l) => l.startsWith('toss-trace: '));
    console.log(`\ntraced ${label}:`);
    for (const line of lines) console.log(`  ${line.slice('toss-trace: '.length)}`);
  }
  return missed;
}

/** The acceptance's ratio or bound for one figure at one size, against the first size. */
function targetOf(
  figure: Figure,
  first: ScaleRow | undefined,
  row: ScaleRow,
  median: (xs: number[]) => number,
): { met: boolean; text: string } | undefined {
  const at = median(row.samples[figure]);
  if (figure === 'list' || figure === 'status') {
    return { met: at < READ_TARGET_MS, text: '< 1 s' };
  }
  if ((figure === 'next' || figure === 'remove') && first !== undefined) {
    const ratio = at / median(first.samples[figure]);
    return { met: ratio <= RATIO_TARGET, text: `${ratio.toFixed(2)}× ≤ ${RATIO_TARGET}×` };
  }
  return undefined;
}
