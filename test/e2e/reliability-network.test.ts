/**
 * Network faults: the link to the server is cut (`ip link set <veth> down` on this
 * machine) while a deploy's deployScript sleeps. The CLI fails with a clear error within the
 * keepalive timeout instead of hanging; once the link is back the live release is untouched and
 * the next deploy breaks the dead CLI's lock by itself, stops the orphaned step and converges.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import {
  type AppCheckout,
  fetchSite,
  makeApp,
  sslipName,
  startProbe,
  toss,
} from './support/app.js';
import {
  activeRunUnits,
  readStateOn,
  reportRow,
  startToss,
  waitForHostProcess,
} from './support/reliability.js';

const run = promisify(execFile);
const APP = 'netcut';
const RUNS = Number(process.env.TOSS_RELIABILITY_ROUNDS ?? 2);
let host: TestHost;
let app: AppCheckout;
const prod = () => sslipName(host, APP, 'production');
const row = { runs: 0, survived: 0, lost: 0 };
const timings: number[] = [];

const link = (state: 'up' | 'down') => run('ip', ['link', 'set', host.hostVeth, state]);

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, {
    app: APP,
    deployScript: ['node build.js', 'sleep "$(cat sleep.txt)"'],
  });
  await app.commit('sleep.txt', '0\n');
  const first = await toss(host, ['deploy', 'production'], { cwd: app.dir });
  expect(first.code, first.output).toBe(0);
});
afterAll(async () => {
  reportRow({
    scenario: 'SSH link cut mid-deployScript',
    runs: row.runs,
    survived: row.survived,
    lost: row.runs - row.survived,
  });
  console.log(
    `RELIABILITY | link cut → CLI error after (s): ${timings.map((t) => (t / 1000).toFixed(1)).join(', ')}`,
  );
  if (host) await link('up').catch(() => {});
  await host?.shutdown();
});

describe('the SSH connection cut mid-deploy', () => {
  for (let i = 1; i <= RUNS; i++) {
    it(`fails within the keepalive timeout, then the next deploy converges (run ${i})`, async () => {
      row.runs++;
      const liveBody = (await fetchSite(host, prod())).body;
      writeFileSync(join(app.dir, 'sleep.txt'), '61\n');
      await app.commit('message.txt', `cut ${i}\n`);
      const deploying = startToss(host, ['deploy', 'production'], { cwd: app.dir });
      let ended: Awaited<typeof deploying.done>;
      let cutAt = 0;
      try {
        await waitForHostProcess(host, '^sleep 61$');
        await link('down');
        cutAt = Date.now();
        ended = await Promise.race([
          deploying.done,
          new Promise<never>((_, reject) =>
            setTimeout(
              () => reject(new Error(`no exit 40 s after the cut:\n${deploying.output()}`)),
              40_000,
            ),
          ),
        ]);
      } finally {
        await link('up');
        deploying.child.kill('SIGKILL');
      }
      const took = Date.now() - cutAt;
      timings.push(took);
      expect(ended.code, ended.output).toBe(1);
      // keepalive 5 s × 2 → about 15 s; allow scheduling slack but never a hang.
      expect(took, ended.output).toBeLessThan(25_000);
      // Names the step that was running and the cause.
      expect(ended.stderr, ended.output).toContain('Run deployScript failed');
      expect(ended.stderr, ended.output).toMatch(
        /lost the SSH connection to root@\S+ .*\(Keepalive timeout\)/s,
      );

      // The link is back: the live release never changed.
      expect(await fetchSite(host, prod())).toEqual({ status: 200, body: liveBody });
      const crashed = await readStateOn(host, APP);
      expect(crashed.lock?.pid).toBe(deploying.pid);

      writeFileSync(join(app.dir, 'sleep.txt'), '0\n');
      await app.commit('message.txt', `after cut ${i}\n`);
      const probe = startProbe(host, prod());
      const next = await toss(host, ['deploy', 'production'], { cwd: app.dir });
      const probed = await probe.stop();
      expect(next.code, next.output).toBe(0);
      expect(next.output).toContain(
        `breaking a lock whose process ${deploying.pid} on ${hostname()} is gone`,
      );
      expect(probed.failed, probed.failures.join('\n')).toBe(0);
      expect(await fetchSite(host, prod())).toEqual({ status: 200, body: `after cut ${i}\n` });
      expect((await readStateOn(host, APP)).lock).toBeNull();
      expect(await activeRunUnits(host)).toEqual([]);
      expect((await host.exec(['pgrep', '-f', '^sleep 61$'])).code).toBe(1);
      row.survived++;
    });
  }
});
