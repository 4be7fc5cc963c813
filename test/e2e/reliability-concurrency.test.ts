/**
 * Concurrency: six real CLI processes deploy the same app at once (three to distinct
 * previews, three to the same one), without and with --lock-wait. Each run succeeds in turn or
 * fails with the LockError message; afterwards state.json is valid, ports are unique across the
 * registry, and every environment serves the marker of its last successful release.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, fetchSite, makeApp, sslipName, toss } from './support/app.js';
import {
  readRegistryOn,
  readStateOn,
  registryPorts,
  releaseOf,
  reportRow,
} from './support/reliability.js';

const APP = 'conc';
const TARGETS = ['pr-11', 'pr-12', 'pr-13', 'pr-20', 'pr-20', 'pr-20'];
let host: TestHost;
let checkouts: AppCheckout[];
/** what each environment served after the last round */
const serving = new Map<string, string>();
const rows = { nowait: { runs: 0, ok: 0 }, wait: { runs: 0, ok: 0 } };

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  checkouts = await Promise.all(
    TARGETS.map(() =>
      makeApp(host, { app: APP, deployScript: ['node build.js', 'sleep 1'], maxPreviews: 50 }),
    ),
  );
});
afterAll(async () => {
  for (const [name, r] of Object.entries(rows)) {
    reportRow({
      scenario: `6 concurrent deploys ${name === 'wait' ? 'with --lock-wait 300' : 'without --lock-wait'}`,
      runs: r.runs,
      survived: r.ok,
      lost: r.runs - r.ok,
    });
  }
  await host?.shutdown();
});

async function round(label: string, lockWait: boolean) {
  const markers = TARGETS.map((env, i) => `${label} process ${i} → ${env}`);
  await Promise.all(checkouts.map((c, i) => c.commit('message.txt', `${markers[i]}\n`)));
  const runs = await Promise.all(
    checkouts.map((c, i) =>
      toss(host, ['deploy', TARGETS[i]!, ...(lockWait ? ['--lock-wait', '300'] : [])], {
        cwd: c.dir,
      }),
    ),
  );
  const all = runs.map((r, i) => `--- process ${i} (${TARGETS[i]}) exit ${r.code}\n${r.output}`);
  const report = all.join('\n');
  const bucket = lockWait ? rows.wait : rows.nowait;
  // Each run either went live or was refused by the lock, nothing else.
  bucket.runs += runs.length;
  for (const [i, run] of runs.entries()) {
    if (run.code === 0) {
      expect(releaseOf(run), report).toBeDefined();
    } else {
      expect(run.code, report).toBe(1);
      expect(run.stderr, all[i]).toContain('another deploy holds the lock');
      expect(lockWait, `a --lock-wait run was refused:\n${all[i]}`).toBe(false);
    }
  }
  expect(runs.filter((r) => r.code === 0).length, report).toBeGreaterThanOrEqual(1);
  if (lockWait)
    expect(
      runs.every((r) => r.code === 0),
      report,
    ).toBe(true);

  // state.json is valid for the schema, unlocked, and ports are unique server-wide.
  const state = await readStateOn(host, APP);
  expect(state.lock, report).toBeNull();
  const registry = await readRegistryOn(host);
  const ports = registryPorts(registry);
  expect(new Set(ports).size, JSON.stringify(registry)).toBe(ports.length);
  for (const [env, record] of Object.entries(state.environments)) {
    expect(registry.apps[APP]?.environments[env]?.ports, env).toEqual(record.ports);
    expect(record.ports).toContain(record.livePort);
  }

  // Every environment serves its last successful release (release ids sort by time).
  for (const env of new Set(TARGETS)) {
    const winners = runs
      .map((run, i) => ({ run, i, release: releaseOf(run) }))
      .filter((w) => w.run.code === 0 && TARGETS[w.i] === env)
      .sort((a, b) => (a.release! < b.release! ? -1 : 1));
    const last = winners.at(-1);
    if (last) {
      const site = await fetchSite(host, sslipName(host, APP, env));
      expect(state.environments[env]?.release, report).toBe(last.release);
      expect(site, `${env}\n${report}`).toEqual({ status: 200, body: `${markers[last.i]}\n` });
      serving.set(env, site.body);
    } else if (serving.has(env)) {
      const site = await fetchSite(host, sslipName(host, APP, env));
      expect(site, `${env} changed without a successful deploy\n${report}`).toEqual({
        status: 200,
        body: serving.get(env),
      });
    } else {
      // Never deployed successfully: nothing recorded for it.
      expect(state.environments[env], report).toBeUndefined();
    }
  }
  // Every run of the round went live or was refused cleanly, and the server is consistent.
  bucket.ok += runs.length;
}

describe('six deploys at once against one server', () => {
  it('without --lock-wait: one at a time succeeds, the rest are refused with LockError (round 1)', async () => {
    await round('nowait-1', false);
  });
  it('with --lock-wait: all six succeed in turn (round 1)', async () => {
    await round('wait-1', true);
  });
  it('without --lock-wait again, every environment now existing (round 2)', async () => {
    await round('nowait-2', false);
  });
  it('with --lock-wait again (round 2)', async () => {
    await round('wait-2', true);
  });
});
