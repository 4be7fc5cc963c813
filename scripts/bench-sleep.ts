/**
 * The bench's sleeping previews, on one test host limited to 2 GB from outside (its cgroup):
 *   wake time   the first HTTPS request to a sleeping preview until its first byte, over 20 wakes,
 *               for examples/hello (Node) and examples/flask (gunicorn, two workers)
 *   fifty       production plus 50 previews of examples/hello: all deployed, all asleep after the
 *               idle time, each woken by one request (five at a time) while a steady probe asks
 *               production every 20 ms; production's p99 then beside its p99 on the idle server
 *   memory      the host's cgroup: peak use against its limit, and whether the limit was hit
 * Floor for the wake time: the same request to the same preview while it is awake.
 */
import { request } from 'node:https';
import type { TestHost } from '../test/e2e/harness/types.js';
import { inHost, makeApp, sslipName, toss } from '../test/e2e/support/app.js';

const PREVIEWS = 50;
const WAKES = 20;
const SLEEP_AFTER = 10;

export interface SleepBench {
  wakes: Map<string, { wake: number[]; awake: number[] }>;
  idleP99: number;
  busyP99: number;
  probeSamples: [number, number];
  fiftyWakes: number[];
  failures: string[];
  memory: { limit: number; peak: number; asleep: number; awake: number; failcnt: number };
  deployMs: number[];
}

/**
 * Time to the first byte of `https://<name>/` (the response's head), ms; rejects on a non-2xx
 * answer, an error or a timeout, so a run never waits on a request that went nowhere.
 */
function firstByte(host: TestHost, name: string, timeoutMs = 30_000): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: host.ip,
        port: 443,
        path: '/',
        servername: name,
        headers: { host: name },
        ca: host.caCert,
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        const ms = performance.now() - started;
        res.resume();
        if ((res.statusCode ?? 0) < 300) resolve(ms);
        else reject(new Error(`${name}: HTTP ${res.statusCode}`));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${name}: timed out`)));
    req.on('error', reject);
    req.on('close', () => reject(new Error(`${name}: closed without an answer`)));
    req.end();
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};

async function livePort(host: TestHost, app: string, env: string): Promise<number> {
  const state = JSON.parse(await inHost(host, ['cat', `/srv/${app}/.toss/state.json`]));
  return state.environments[env].livePort as number;
}

/** What the idle proxy does when the idle time runs out: it exits, and the instance stops. */
async function putToSleep(host: TestHost, app: string, env: string): Promise<void> {
  const port = await livePort(host, app, env);
  await inHost(host, ['systemctl', 'stop', '--', `toss-wake-${app}-${env}@${port}.service`]);
  const instance = `toss-${app}-${env}@${port}.service`;
  // gunicorn's graceful stop takes seconds; the unit's own TimeoutStopSec bounds it (30 s).
  for (let i = 0; i < 700; i++) {
    const state = await host.exec(['systemctl', 'is-active', '--', instance]);
    if (state.stdout.trim() === 'inactive') return;
    await pause(50);
  }
  throw new Error(`${instance} did not stop`);
}

/**
 * WAKES sleeping→first byte times and as many awake ones of one preview; a wake that fails is
 * counted in `failures` with its reason (and the preview's journal tail), not retried.
 */
async function wakeTimes(host: TestHost, app: string, env: string, failures: string[]) {
  const name = sslipName(host, app, env);
  const wake: number[] = [];
  const awake: number[] = [];
  for (let i = 0; i < WAKES; i++) {
    await putToSleep(host, app, env);
    try {
      wake.push(await firstByte(host, name));
      awake.push(await firstByte(host, name));
    } catch (error) {
      const port = await livePort(host, app, env);
      const journal = await inHost(host, [
        'journalctl',
        '--no-pager',
        '-o',
        'cat',
        '-n',
        '8',
        '-u',
        `toss-wake-${app}-${env}@${port}.service`,
      ]).catch(() => '');
      failures.push(
        `${name} wake ${i + 1}: ${(error as Error).message}; ${journal.replaceAll('\n', ' | ')}`,
      );
      await pause(2000);
    }
  }
  return { wake, awake };
}

async function memoryFigures(host: TestHost) {
  const read = async (file: string) =>
    Number((await inHost(host, ['cat', `/sys/fs/cgroup/memory/${file}`])).trim());
  return {
    limit: await read('memory.limit_in_bytes'),
    usage: await read('memory.usage_in_bytes'),
    peak: await read('memory.max_usage_in_bytes'),
    failcnt: await read('memory.failcnt'),
  };
}

/** Asks production every 20 ms until stopped; resolves with each answer's time to first byte. */
function probe(host: TestHost, name: string, failures: string[]) {
  let running = true;
  const times: number[] = [];
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      await firstByte(host, name, 5000).then(
        (ms) => times.push(ms),
        (error: Error) => failures.push(`production: ${error.message}`),
      );
      const wait = 20 - (performance.now() - started);
      if (wait > 0) await pause(wait);
    }
  })();
  return async () => {
    running = false;
    await loop;
    return times;
  };
}

async function deployTimed(host: TestHost, dir: string, env: string, into: number[]) {
  const started = performance.now();
  const run = await toss(host, ['deploy', env], { cwd: dir });
  if (run.code !== 0) throw new Error(`deploy ${env} failed:\n${run.output}`);
  into.push(performance.now() - started);
}

async function waitAllAsleep(host: TestHost, dir: string, count: number): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const run = await toss(host, ['list', '--json'], { cwd: dir });
    const envs = JSON.parse(run.stdout).environments as { service: string }[];
    if (envs.filter((e) => e.service === 'sleeping').length >= count) return;
    await pause(1000);
  }
  throw new Error(`not all ${count} previews fell asleep`);
}

export async function benchSleep(host: TestHost, log: (t: string) => void): Promise<SleepBench> {
  const failures: string[] = [];
  const deployMs: number[] = [];
  const hello = await makeApp(host, {
    app: 'nap',
    maxPreviews: PREVIEWS + 5,
    previews: { sleepAfter: `${SLEEP_AFTER}s` },
  });
  await deployTimed(host, hello.dir, 'production', deployMs);
  for (let i = 1; i <= PREVIEWS; i++) {
    await deployTimed(host, hello.dir, `pr-${i}`, deployMs);
    if (i % 10 === 0) log(`sleep: ${i} previews deployed`);
  }
  log(`sleep: waiting for ${PREVIEWS} previews to fall asleep (${SLEEP_AFTER} s idle)`);
  await waitAllAsleep(host, hello.dir, PREVIEWS);
  const asleep = await memoryFigures(host);

  const production = sslipName(host, 'nap', 'production');
  log('sleep: production on the idle server');
  const idleStop = probe(host, production, failures);
  await pause(8000);
  const idle = await idleStop();

  log(`sleep: ${PREVIEWS} wakes, five at a time, production probed`);
  const busyStop = probe(host, production, failures);
  const fiftyWakes: number[] = [];
  for (let i = 1; i <= PREVIEWS; i += 5) {
    const wave = Array.from({ length: 5 }, (_, k) => i + k).filter((n) => n <= PREVIEWS);
    const times = await Promise.all(
      wave.map((n) =>
        firstByte(host, sslipName(host, 'nap', `pr-${n}`)).catch((error: Error) => {
          failures.push(error.message);
          return Number.NaN;
        }),
      ),
    );
    fiftyWakes.push(...times.filter((t) => !Number.isNaN(t)));
  }
  const busy = await busyStop();
  const awake = await memoryFigures(host);

  log('sleep: wake times, examples/hello');
  const wakes = new Map<string, { wake: number[]; awake: number[] }>();
  wakes.set('examples/hello (node)', await wakeTimes(host, 'nap', 'pr-1', failures));
  log('sleep: wake times, examples/flask');
  const flask = await makeApp(
    host,
    { app: 'napflask', previews: { sleepAfter: '1h' } },
    undefined,
    'flask',
  );
  await deployTimed(host, flask.dir, 'production', []);
  await deployTimed(host, flask.dir, 'pr-1', []);
  wakes.set('examples/flask (gunicorn)', await wakeTimes(host, 'napflask', 'pr-1', failures));
  const end = await memoryFigures(host);
  return {
    wakes,
    idleP99: percentile(idle, 99),
    busyP99: percentile(busy, 99),
    probeSamples: [idle.length, busy.length],
    fiftyWakes,
    failures,
    memory: {
      limit: asleep.limit,
      peak: Math.max(asleep.peak, awake.peak, end.peak),
      asleep: asleep.usage,
      awake: awake.usage,
      failcnt: end.failcnt,
    },
    deployMs,
  };
}

/** Prints the figures; returns how many targets were missed. */
export function reportSleep(b: SleepBench, median: (xs: number[]) => number): number {
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  const mib = (x: number) => `${(x / 2 ** 20).toFixed(0)} MiB`;
  let missed = 0;
  console.log(`\nsleeping previews (one host limited to ${mib(b.memory.limit)}):`);
  console.log(
    `${'wake, time to first byte'.padEnd(30)}${'median'.padStart(9)}${'worst'.padStart(9)}${'awake'.padStart(9)}${'ratio'.padStart(8)}   target`,
  );
  for (const [label, { wake, awake }] of b.wakes) {
    if (wake.length === 0) {
      console.log(`${label.padEnd(30)}no wake answered`);
      missed++;
      continue;
    }
    const ratio = median(wake) / median(awake);
    const target = label.includes('hello') ? median(wake) < 1000 : undefined;
    if (target === false) missed++;
    console.log(
      `${label.padEnd(30)}${ms(median(wake)).padStart(9)}${ms(Math.max(...wake)).padStart(9)}${ms(median(awake)).padStart(9)}${`${ratio.toFixed(1)}×`.padStart(8)}   ${target === undefined ? '' : `median < 1 s: ${target ? 'met' : 'MISSED'}`}`,
    );
  }
  const within = b.busyP99 <= 2 * b.idleP99;
  if (!within) missed++;
  const fits = b.memory.peak <= b.memory.limit && b.memory.failcnt === 0;
  if (!fits) missed++;
  const reached = b.fiftyWakes.length;
  if (reached < PREVIEWS) missed++;
  console.log(
    `${PREVIEWS} previews: deploys median ${(median(b.deployMs) / 1000).toFixed(2)} s; all asleep: host uses ${mib(b.memory.asleep)}; ` +
      `after ${reached}/${PREVIEWS} wakes (five at a time; median ${ms(median(b.fiftyWakes))}, worst ${ms(Math.max(...b.fiftyWakes))}): ${mib(b.memory.awake)}; ` +
      `peak ${mib(b.memory.peak)} of ${mib(b.memory.limit)}, limit hit ${b.memory.failcnt} times: ${fits ? 'met' : 'MISSED'}`,
  );
  console.log(
    `production p99 under a 20 ms probe: idle server ${ms(b.idleP99)} (${b.probeSamples[0]} requests), during the wakes ${ms(b.busyP99)} (${b.probeSamples[1]}): ${(b.busyP99 / b.idleP99).toFixed(2)}×, target ≤ 2×: ${within ? 'met' : 'MISSED'}`,
  );
  if (b.failures.length > 0) {
    missed++;
    console.log(`${b.failures.length} failed request(s):`);
    for (const failure of b.failures.slice(0, 10)) console.log(`  ${failure}`);
  }
  return missed;
}
