/**
 * Production first, on a real host booted with a 2 GiB memory limit set from outside on its
 * cgroup: previews' units as systemd reads them (lower CPU and IO weights, a higher OOM score,
 * a default memory limit) against production's, with the OOM score checked on the running
 * processes; the server's available memory as toss reads it, from the limit and not this
 * machine's MemAvailable; a preview past production's previews.ttl swept by `toss sweep`; and a preview refused
 * when starting it would leave less than production's previews.memoryFloor, while production's
 * own deploy under the same floor goes through. When the host does run out of memory (its limit
 * is enforced by this machine's kernel), the OOM killer takes the preview's app, not production's.
 *
 * These hosts do not enforce per-unit cgroup settings (weights, MemoryMax): what is checked is
 * what systemd was told. OOMScoreAdjust= is no cgroup setting: the kernel's per-process value is
 * read from /proc, and its effect is seen under the whole host's limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tossConfigSchema } from '../../src/config/schema.js';
import { assertMemoryForPreview } from '../../src/pipeline/capacity-check.js';
import type { Login } from '../../src/pipeline/request.js';
import { openServer } from '../../src/pipeline/session.js';
import {
  formatBytes,
  memoryArgv,
  parseMemory,
  type ServerMemory,
} from '../../src/server/capacity.js';
import { envPaths } from '../../src/server/paths.js';
import { trustedConfig } from '../../src/server/policy.js';
import { parseState, type State } from '../../src/server/state.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, fetchSite, inHost, makeApp, sslipName, toss } from './support/app.js';

const APP = 'roomy';
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const PREVIEW_LIMIT = 512 * MiB;

let host: TestHost;
let app: AppCheckout;

async function deploy(env: string): Promise<void> {
  const run = await toss(host, ['deploy', env], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
}

async function state(): Promise<State> {
  const state = parseState(await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`]));
  if (state === undefined) throw new Error('no state.json');
  return state;
}

async function measure(): Promise<ServerMemory> {
  const result = await host.exec(memoryArgv());
  expect(result.code, result.stderr).toBe(0);
  return parseMemory(result.stdout);
}

function login(): Login {
  return {
    host: host.ip,
    port: 22,
    user: 'root',
    privateKey: host.key,
    knownHosts: host.knownHostsLines.join('\n'),
  };
}

const config = () => tossConfigSchema.parse(app.config());

/** `toss sweep` in the app's checkout, logged in as `toss` (support/app.ts) logs in. */
beforeAll(async () => {
  [host] = (await bootHosts(1, { memoryLimit: '2G' })) as [TestHost];
  app = await makeApp(host, {
    app: APP,
    // Awake previews, so their processes can be read; expired after a day.
    previews: { sleepAfter: 'off', ttl: '1d' },
  });
  await deploy('production');
  await deploy('pr-1');
}, 240_000);
afterAll(async () => {
  await host?.shutdown();
});

/** systemd's view of an instance, and the OOM score of every process it runs. */
async function instanceView(environment: string) {
  const port = (await state()).environments[environment]?.livePort as number;
  const unit = envPaths(APP, environment).instanceUnit(port);
  const show = await inHost(host, [
    'systemctl',
    'show',
    '-p',
    'CPUWeight,IOWeight,OOMScoreAdjust,MemoryMax,Slice,ActiveState',
    '--',
    unit,
  ]);
  const properties = Object.fromEntries(
    show
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2)),
  );
  const pids = (await inHost(host, ['ps', '-e', '-o', 'pid=,unit=']))
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1] === unit)
    .map((fields) => fields[0] as string);
  const scores = await Promise.all(
    pids.map(async (pid) => (await inHost(host, ['cat', `/proc/${pid}/oom_score_adj`])).trim()),
  );
  // The scheduler's view: each process's nice and its session group's (atEnvPriority).
  const nices = await Promise.all(
    pids.map(async (pid) => {
      const nice = (await inHost(host, ['ps', '-o', 'ni=', '-p', pid])).trim();
      const group = (await inHost(host, ['cat', `/proc/${pid}/autogroup`])).trim();
      return `${nice} ${group.replace(/^\/autogroup-\d+ /, '')}`;
    }),
  );
  return { unit, properties, scores, nices };
}

describe('previews below production', () => {
  it('systemd runs the preview with lower weights, a higher OOM score and a memory limit', async () => {
    const preview = await instanceView('pr-1');
    const production = await instanceView('production');
    console.log(
      `UNITS | ${preview.unit} ${JSON.stringify(preview.properties)} oom_score_adj ${preview.scores.join(',')} nice ${preview.nices.join(',')} | ${production.unit} ${JSON.stringify(production.properties)} oom_score_adj ${production.scores.join(',')} nice ${production.nices.join(',')}`,
    );
    expect(preview.properties).toEqual({
      CPUWeight: '20',
      IOWeight: '20',
      OOMScoreAdjust: '500',
      MemoryMax: String(PREVIEW_LIMIT),
      Slice: 'system.slice',
      ActiveState: 'active',
    });
    expect(production.properties).toEqual({
      CPUWeight: '100',
      IOWeight: '100',
      OOMScoreAdjust: '0',
      MemoryMax: 'infinity',
      Slice: 'system.slice',
      ActiveState: 'active',
    });
    // The OOM score is in effect for every process of each (the shell and the app under it).
    expect(preview.scores.length).toBeGreaterThan(0);
    expect(new Set(preview.scores)).toEqual(new Set(['500']));
    expect(production.scores.length).toBeGreaterThan(0);
    expect(new Set(production.scores)).toEqual(new Set(['0']));
    // Nice 10 for the preview's processes and their scheduling group, which is what counts
    // between sessions where cgroup weights do not apply (as here); production stays at 0.
    expect(new Set(preview.nices)).toEqual(new Set(['10 nice 10']));
    expect(new Set(production.nices)).toEqual(new Set(['0 nice 0']));
    expect((await fetchSite(host, sslipName(host, APP, 'pr-1'))).status).toBe(200);
  });
});

describe("the server's available memory", () => {
  it("comes from the host's cgroup limit, not this machine's MemAvailable", async () => {
    const memory = await measure();
    console.log(
      `MEMORY | available ${(memory.availableBytes / MiB).toFixed(0)} MiB from ${memory.source} | MemAvailable ${(memory.memAvailableBytes / MiB).toFixed(0)} MiB`,
    );
    expect(memory.cgroups.some((cgroup) => cgroup.limitBytes === 2 * GiB)).toBe(true);
    expect(memory.source).toMatch(/^the memory limit of the server's cgroup \(v[12] /);
    expect(memory.availableBytes).toBeLessThan(2 * GiB);
    // Used: at least Caddy, sshd and the two apps.
    expect(memory.availableBytes).toBeLessThan(2 * GiB - 20 * MiB);
    // The host's /proc/meminfo shows this whole machine: more than the limit.
    expect(memory.memAvailableBytes).toBeGreaterThan(memory.availableBytes);
    // Each environment's instance, by unit.
    const units = memory.units.map((u) => u.unit.replace(/@\d+\.service$/, ''));
    expect(units).toEqual(expect.arrayContaining([`toss-${APP}-production`, `toss-${APP}-pr-1`]));
  });
});

describe('previews.ttl', () => {
  it('the sweep removes a preview last deployed longer ago than the ttl, saying why', async () => {
    await deploy('pr-2');
    // Two days ago, as state.json would say had it not been deployed since.
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
    await inHost(host, [
      'python3',
      '-c',
      `import json, sys
p = '/srv/${APP}/.toss/state.json'
s = json.load(open(p))
s['environments']['pr-2']['deployedAt'] = sys.argv[1]
json.dump(s, open(p, 'w'))`,
      twoDaysAgo,
    ]);
    const run = await toss(host, ['sweep'], { cwd: app.dir });
    expect(run.code, run.output).toBe(0);
    console.log(`SWEEP | ${run.output.trim().split('\n').join(' | ')}`);
    expect(run.output).toContain(
      `sweep: pr-2 was last deployed 2 days ago (${twoDaysAgo}), longer than previews.ttl (1d), removing pr-2`,
    );
    expect(run.stdout).toMatch(/\nremoved pr-2\n$/);
    const after = await state();
    expect(Object.keys(after.environments).sort()).toEqual(['pr-1', 'production']);
    expect((await host.exec(['test', '-e', `/srv/${APP}/pr-2`])).code).not.toBe(0);
    const units = await inHost(host, [
      'systemctl',
      'list-units',
      '--all',
      '--plain',
      '--no-legend',
    ]);
    expect(units).not.toContain(`toss-${APP}-pr-2@`);
  }, 120_000);
});

describe('previews.memoryFloor', () => {
  it('refuses a preview that would leave production less than the floor; production deploys', async () => {
    // A floor just above what a preview may leave: available − its 512 MiB limit, plus 256 MiB.
    const before = await measure();
    const floorMiB = Math.ceil((before.availableBytes - PREVIEW_LIMIT) / MiB) + 256;
    app.configure({ previews: { sleepAfter: 'off', ttl: '1d', memoryFloor: `${floorMiB}M` } });
    await app.commit('message.txt', 'Hello under a floor\n');
    // Production is never refused for memory.
    await deploy('production');
    expect((await state()).policy?.previews?.memoryFloor).toBe(`${floorMiB}M`);

    const server = await openServer({ login: login() }, APP);
    try {
      const pr3 = envPaths(APP, 'pr-3');
      const trusted = trustedConfig(config(), 'pr-3', (await state()).policy).config;
      const refusal = await assertMemoryForPreview(server, trusted, pr3).then(
        () => undefined,
        (error: Error & { hint?: string }) => error,
      );
      console.log(`FLOOR | ${floorMiB} MiB | ${refusal?.message}`);
      expect(refusal?.message).toMatch(
        new RegExp(
          `^not enough memory to start pr-3: the server has [\\d.]+ [GM]iB available \\(the memory limit of the server's cgroup .*\\), the preview may use up to 512 MiB \\(its memory limit\\), and ${formatBytes(floorMiB * MiB).replace('.', '\\.')} is kept for production \\(previews\\.memoryFloor\\); previews running now, most memory first: ${APP} pr-1 \\(\\d+ MiB\\)$`,
        ),
      );
      expect(refusal?.hint).toMatch(/toss remove <environment>/);
      // Production under the same floor: no refusal.
      await assertMemoryForPreview(server, config(), envPaths(APP, 'production'));
      // And a floor 256 MiB below what the preview would leave lets it start.
      const lower = Math.floor((before.availableBytes - PREVIEW_LIMIT) / MiB) - 256;
      const roomy = { ...trusted, previews: { ...trusted.previews, memoryFloor: `${lower}M` } };
      await assertMemoryForPreview(server, roomy, pr3);
    } finally {
      await server.close();
    }
    expect((await fetchSite(host, sslipName(host, APP, 'production'))).body).toContain(
      'Hello under a floor',
    );
    // The same through `toss deploy`: a new preview is refused before anything changes.
    const refused = await toss(host, ['deploy', 'pr-3'], { cwd: app.dir });
    console.log(`FLOOR | toss deploy pr-3 exit ${refused.code}`);
    expect(refused.code, refused.output).not.toBe(0);
    expect(refused.output).toContain('not enough memory to start pr-3: the server has ');
    expect(refused.output).toContain(`${APP} pr-1 (`);
    expect((await state()).environments['pr-3']).toBeUndefined();
    expect((await host.exec(['test', '-e', `/srv/${APP}/pr-3`])).code).not.toBe(0);
    // Its first upload (staged outside the app while the lock was taken) went with the refusal.
    expect((await host.exec(['sh', '-c', 'ls -A /srv/.toss-incoming 2>/dev/null'])).stdout).toBe(
      '',
    );
  }, 120_000);
});

/** Starts a unit of root's that holds `mib` MiB of touched memory, 16 MiB at a time. */
async function startHog(name: string, mib: number): Promise<void> {
  const script = `import time
held = [b'\\x01' * (16 << 20) for _ in range(${Math.ceil(mib / 16)})]
time.sleep(600)`;
  await inHost(host, ['systemd-run', `--unit=${name}`, '--quiet', 'python3', '-c', script]);
}

async function unitFacts(unit: string): Promise<Record<string, string>> {
  const show = await inHost(host, ['systemctl', 'show', '-p', 'MainPID,NRestarts', '--', unit]);
  return Object.fromEntries(
    show
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2)),
  );
}

describe('when the host runs out of memory', () => {
  // The whole host's limit is enforced by this machine's kernel (its memory cgroup), and the
  // OOM killer ranks a cgroup's processes by size plus oom_score_adj: a preview's 500 counts as
  // half the limit's worth, so its ~50 MiB app goes before processes of several hundred MiB, and
  // long before production's app of the same size.
  it("the kernel kills the preview's app, not production's", async () => {
    const now = await state();
    const previewUnit = envPaths(APP, 'pr-1').instanceUnit(
      now.environments['pr-1']?.livePort as number,
    );
    const productionUnit = envPaths(APP, 'production').instanceUnit(
      now.environments.production?.livePort as number,
    );
    const production = await unitFacts(productionUnit);
    expect((await unitFacts(previewUnit)).NRestarts).toBe('0');
    // Hogs of 400 MiB each (oom_score_adj 0), one after another, until memory runs out.
    const hogs: string[] = [];
    try {
      while ((await unitFacts(previewUnit)).NRestarts === '0') {
        expect(hogs.length, 'memory never ran out').toBeLessThan(8);
        const hog = `capacity-hog-${hogs.length + 1}`;
        hogs.push(hog);
        await startHog(hog, 400);
        await new Promise((r) => setTimeout(r, 1500));
      }
      const killed = await unitFacts(previewUnit);
      const kept = await unitFacts(productionUnit);
      // Once the preview's app is gone and memory is still short, the next victim is the biggest
      // hog: production's app, as small as the preview's, is the last in line.
      const alive = await host.exec(['systemctl', 'is-active', '--', ...hogs]);
      const activeHogs = alive.stdout.split('\n').filter((l) => l === 'active').length;
      console.log(
        `OOM | ${hogs.length} hogs of 400 MiB, ${activeHogs} still running | preview restarts ${killed.NRestarts} | production MainPID ${production.MainPID} → ${kept.MainPID}, restarts ${kept.NRestarts}`,
      );
      expect(kept).toEqual(production);
      expect(production.NRestarts).toBe('0');
    } finally {
      await host.exec(['systemctl', 'stop', '--', ...hogs]);
    }
    // Memory back, the preview comes back by itself (Restart=always) and answers again.
    const since = Date.now();
    const answer = () =>
      fetchSite(host, sslipName(host, APP, 'pr-1'), '/', { timeoutMs: 5000 }).then(
        (res) => res.status,
        () => 0,
      );
    while ((await answer()) !== 200) {
      expect(Date.now() - since, 'the preview did not come back').toBeLessThan(30_000);
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 120_000);
});
