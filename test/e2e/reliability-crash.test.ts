/**
 * Crashes: the toss CLI is SIGKILLed at each pipeline step of a production deploy while
 * a probe requests the live site every 50 ms. The live environment never fails a request, state
 * stays valid, and the next deploy breaks the dead process's lock by itself (saying so), stops
 * any step the dead run left on the server, and converges: one instance, the new body, no
 * leftovers.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import {
  type AppCheckout,
  fetchSite,
  inHost,
  makeApp,
  sslipName,
  startProbe,
  toss,
} from './support/app.js';
import {
  activeRunUnits,
  type RunningToss,
  readStateOn,
  reportRow,
  startToss,
  waitForHostProcess,
} from './support/reliability.js';

const APP = 'crashy';
const ROUNDS = Number(process.env.TOSS_RELIABILITY_ROUNDS ?? 1);
let host: TestHost;
let app: AppCheckout;
const prod = () => sslipName(host, APP, 'production');
const tally = new Map<string, { runs: number; survived: number; lost: number }>();

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, {
    app: APP,
    // The second command sleeps as long as sleep.txt says: 0 normally, long when a test kills it.
    deployScript: ['node build.js', 'sleep "$(cat sleep.txt)"'],
    healthCheck: { path: '/up', timeout: 20 },
  });
  await app.commit('sleep.txt', '0\n');
  await app.commit('message.txt', 'first\n');
  const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
});
afterAll(async () => {
  for (const [scenario, t] of tally) reportRow({ scenario, ...t });
  await host?.shutdown();
});

async function activeInstances(): Promise<string[]> {
  const out = await inHost(host, [
    'systemctl',
    'list-units',
    `toss-${APP}-production@*`,
    '--no-legend',
    '--plain',
    '--state=active,activating',
  ]);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

async function onDiskReleases(): Promise<string[]> {
  const out = await inHost(host, ['ls', '-1', `/srv/${APP}/production/releases`]);
  return out.split('\n').filter(Boolean).sort();
}

interface KillPoint {
  name: string;
  /** prepares the checkout (the commit makes the deploy's body `marker`) */
  prepare?: () => Promise<void>;
  /** resolves at the moment to kill */
  when: (run: RunningToss) => Promise<void>;
  cleanup?: () => Promise<void>;
}

const line = (label: string) => (run: RunningToss) => run.waitFor(`toss: ${label}`);

const KILL_POINTS: KillPoint[] = [
  { name: 'right after the lock is taken', when: line('Acquire lock done') },
  {
    name: 'mid-rsync (big tree)',
    prepare: async () => {
      // ~60 MB in 600 files, so rsync (with --checksum) takes a moment.
      const dir = join(app.dir, 'big');
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < 600; i++) writeFileSync(join(dir, `f${i}.bin`), randomBytes(100_000));
    },
    when: async (run) => {
      await run.waitFor('toss: Upload files…');
      await waitForHostProcess(host, 'rsync --server', 30_000);
    },
    cleanup: async () => {
      rmSync(join(app.dir, 'big'), { recursive: true, force: true });
    },
  },
  {
    name: 'mid-deployScript (sleeping step)',
    prepare: async () => {
      writeFileSync(join(app.dir, 'sleep.txt'), '37\n');
    },
    when: async () => {
      await waitForHostProcess(host, '^sleep 37$');
    },
    cleanup: async () => {
      writeFileSync(join(app.dir, 'sleep.txt'), '0\n');
    },
  },
  { name: 'at the start of the new release', when: line('Start new release…') },
  { name: 'mid-health check', when: line('Health check…') },
  { name: 'mid-Caddy reload', when: line('Route traffic (Caddy)…') },
  { name: 'right after the switch', when: line('Switch current done') },
  { name: 'during the HTTPS confirmation', when: line('Confirm over HTTPS…') },
];

let counter = 0;

async function crashAndRecover(point: KillPoint) {
  const row = tally.get(`SIGKILL ${point.name}`) ?? { runs: 0, survived: 0, lost: 0 };
  tally.set(`SIGKILL ${point.name}`, row);
  row.runs++;
  counter++;
  const oldBody = (await fetchSite(host, prod())).body;
  const killedMarker = `killed ${counter}: ${point.name}`;
  await point.prepare?.();
  await app.commit('message.txt', `${killedMarker}\n`);

  const probe = startProbe(host, prod());
  const run = startToss(host, ['deploy', 'production'], { cwd: app.dir });
  let ended: Awaited<RunningToss['done']>;
  try {
    await point.when(run);
    run.child.kill('SIGKILL');
    ended = await run.done;
  } finally {
    run.child.kill('SIGKILL');
  }
  await new Promise((r) => setTimeout(r, 1500));
  const during = await probe.stop();
  expect(ended.signal, ended.output).toBe('SIGKILL');
  // The live environment never failed a request; it served the old or (once routed) the new body.
  expect(during.failed, `${point.name}: ${during.failures.slice(0, 5).join('\n')}`).toBe(0);
  expect(during.ok).toBeGreaterThan(5);
  for (const body of during.bodies) expect([oldBody, `${killedMarker}\n`]).toContain(body);

  // state.json is whole and valid; the lock (if taken) names the dead CLI.
  const crashed = await readStateOn(host, APP);
  if (crashed.lock) expect(crashed.lock.pid).toBe(run.pid);

  // The next deploy breaks the dead process's lock by itself and converges.
  await point.cleanup?.();
  const marker = `recovered ${counter}`;
  await app.commit('message.txt', `${marker}\n`);
  const probe2 = startProbe(host, prod());
  const next = await toss(host, ['deploy', 'production'], { cwd: app.dir });
  const after = await probe2.stop();
  expect(next.code, next.output).toBe(0);
  if (crashed.lock) {
    expect(next.output).toContain(
      `breaking a lock whose process ${run.pid} on ${hostname()} is gone`,
    );
  }
  expect(after.failed, after.failures.slice(0, 5).join('\n')).toBe(0);
  expect(await fetchSite(host, prod())).toEqual({ status: 200, body: `${marker}\n` });
  const state = await readStateOn(host, APP);
  expect(state.lock).toBeNull();
  expect(await activeRunUnits(host)).toEqual([]);
  expect(
    (await host.exec(['pgrep', '-f', '^sleep 37$'])).code,
    'the killed step still sleeps',
  ).toBe(1);
  const env = state.environments.production!;
  // The old instance stops after the drain (5 s, a timer): then only the live one runs.
  const live = [`toss-${APP}-production@${env.livePort}.service`];
  const deadline = Date.now() + 15_000;
  while (
    Date.now() < deadline &&
    JSON.stringify(await activeInstances()) !== JSON.stringify(live)
  ) {
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(await activeInstances()).toEqual(live);
  // No leftovers of the crashed deploy on disk: exactly the releases state knows.
  expect(await onDiskReleases()).toEqual([...env.releases].sort());
  const current = (await inHost(host, ['readlink', `/srv/${APP}/production/current`])).trim();
  expect(current).toBe(`releases/${env.release}`);
  row.survived++;
}

describe('the CLI killed with SIGKILL at each step of a production deploy', () => {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const point of KILL_POINTS) {
      it(`${point.name} (round ${round})`, async () => {
        const row = tally.get(`SIGKILL ${point.name}`);
        const before = row?.survived ?? 0;
        try {
          await crashAndRecover(point);
        } finally {
          const r = tally.get(`SIGKILL ${point.name}`)!;
          if (r.survived === before) r.lost++;
        }
      });
    }
  }
});
