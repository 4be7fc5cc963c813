/**
 * Long requests survive a deploy, on a real host: the old instance keeps serving what it accepted
 * until it is done (up to drainTimeout), with an app that drops everything on SIGTERM, and stops
 * once its port has been quiet for DRAIN_QUIET_MS when only short requests were in flight, not
 * when drainTimeout (30 s) runs out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRAIN_QUIET_MS } from '../../src/server/instances.js';
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

const APP = 'longreq';
// Exits at once on SIGTERM, as Python's http.server or a plain Node server does: a request in
// flight when it stops is lost.
const SERVER = `import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const version = readFileSync('message.txt', 'utf8').trim();
createServer((request, response) => {
  const url = new URL(request.url, 'http://app');
  if (url.pathname === '/slow') {
    const seconds = Number(url.searchParams.get('s'));
    setTimeout(() => response.end(version + ' after ' + seconds + ' s\\n'), seconds * 1000);
  } else {
    response.end(version + '\\n');
  }
}).listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => process.exit(0));
`;

let host: TestHost;
let app: AppCheckout;
const name = () => sslipName(host, APP, 'production');

async function deploy(): Promise<void> {
  const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
}

async function livePort(): Promise<number> {
  const state = JSON.parse(await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`]));
  return state.environments.production.livePort;
}

/** Journal lines of a unit with their times in seconds since the epoch. */
async function journal(unit: string): Promise<{ at: number; text: string }[]> {
  const out = await inHost(host, ['journalctl', '--no-pager', '-o', 'short-unix', '-u', unit]);
  return out
    .split('\n')
    .map((line) => /^(\d+\.\d+) \S+ (.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ at: Number(m[1]), text: m[2] ?? '' }));
}

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, {
    app: APP,
    startCommand: 'node app.js',
    deployScript: undefined,
    persistentDirs: [],
    healthCheck: { path: '/', timeout: 30 },
  });
  await app.commit('app.js', SERVER);
  await app.commit('message.txt', 'version 1\n');
  await deploy();
});
afterAll(async () => {
  await host?.shutdown();
});

describe('the drain', () => {
  it('lets a 20 s request started before a redeploy finish with 200 from the old release', async () => {
    const oldPort = await livePort();
    const slow = fetchSite(host, name(), '/slow?s=20', { timeoutMs: 40_000 });
    await new Promise((r) => setTimeout(r, 1000));
    await app.commit('message.txt', 'version 2\n');
    const deployed = Date.now();
    await deploy();
    expect(Date.now() - deployed, 'the deploy does not wait for the drain').toBeLessThan(15_000);
    // New requests go to the new release at once; the old one is still running.
    expect((await fetchSite(host, name(), '/')).body).toBe('version 2\n');
    const oldUnit = `toss-${APP}-production@${oldPort}.service`;
    expect(await inHost(host, ['systemctl', 'is-active', oldUnit])).toBe('active\n');

    const res = await slow;
    const answered = Date.now();
    expect(res.status, res.body).toBe(200);
    expect(res.body).toBe('version 1 after 20 s\n');
    // Then it stops, well before drainTimeout (30 s).
    for (;;) {
      const state = await host.exec(['systemctl', 'is-active', oldUnit]);
      if (state.stdout.trim() !== 'active') break;
      expect(Date.now() - answered, `${oldUnit} still running`).toBeLessThan(5000);
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(
      `DRAIN | 20 s request: answered by the old release; the old instance stopped within ${((Date.now() - answered) / 1000).toFixed(1)} s after the answer`,
    );
  }, 120_000);

  it('stops the old instance once its port is quiet, long before drainTimeout, when only short requests were in flight', async () => {
    const oldPort = await livePort();
    const oldUnit = `toss-${APP}-production@${oldPort}.service`;
    await app.commit('message.txt', 'version 3\n');
    const probe = startProbe(host, name(), 50);
    await deploy();
    // Let the drain finish and the probe go on over the new release for a moment.
    await new Promise((r) => setTimeout(r, 3000));
    const result = await probe.stop();
    expect(result.failed, result.failures.join('\n')).toBe(0);
    expect(result.ok).toBeGreaterThan(20);
    expect(result.bodies).toContain('version 3\n');

    // From systemd's journal: Caddy's load of the new config (posted to its admin socket, see
    // caddy-apply.ts), the switch (the drain unit starting) and the old instance beginning to stop.
    const last = async (unit: string, pattern: RegExp) => {
      const lines = (await journal(unit)).filter((l) => pattern.test(l.text));
      expect(lines.length, `${unit}: ${pattern}`).toBeGreaterThan(0);
      return lines[lines.length - 1]!.at;
    };
    const reloaded = await last('caddy', /"load complete"/);
    const drain = `toss-drain-${APP}-production-${oldPort}.service`;
    const switched = await last(drain, /systemd\[1\]: Started /);
    const stopped = await last(oldUnit, /systemd\[1\]: Stopping /);
    console.log(
      `DRAIN | short requests only: the old instance began stopping ${(stopped - switched).toFixed(2)} s after the switch, ${(stopped - reloaded).toFixed(2)} s after Caddy's reload | probe ok ${result.ok} failed ${result.failed}`,
    );
    expect(switched).toBeGreaterThanOrEqual(reloaded);
    // The drain waits for DRAIN_QUIET_MS of quiet after the switch, so that much is the least it
    // can take; the bound above it only has to tell "stopped when quiet" from "waited out
    // drainTimeout (30 s)", with room for a loaded host's polling (1.05 s seen under CI).
    expect(stopped - switched, 'seconds from the switch to the stop').toBeGreaterThanOrEqual(
      DRAIN_QUIET_MS / 1000 - 0.05,
    );
    expect(stopped - switched, 'seconds from the switch to the stop').toBeLessThan(5);
  }, 120_000);
});
