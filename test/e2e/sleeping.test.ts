/**
 * Sleeping previews on a real host: systemd holds a socket Caddy proxies to; the first request
 * starts the instance and is answered once it listens; after the idle time the proxy exits and
 * the instance stops. Production never sleeps unless named. Toss's own checks never wake one.
 */
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
import { startToss } from './support/reliability.js';

const APP = 'napper';
const SLEEP_SECONDS = 10;

let host: TestHost;
let app: AppCheckout;
const prName = () => sslipName(host, APP, 'pr-7');

interface Listed {
  name: string;
  service: string;
  livePort: number;
}

async function listed(name: string): Promise<Listed> {
  const run = await toss(host, ['list', '--json'], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
  const listing = JSON.parse(run.stdout) as { environments: Listed[] };
  const env = listing.environments.find((e) => e.name === name);
  if (env === undefined) throw new Error(`${name} is not listed: ${run.stdout}`);
  return env;
}

async function unitState(unit: string): Promise<string> {
  const result = await host.exec(['systemctl', 'show', '-P', 'ActiveState', '--', unit]);
  return result.stdout.trim();
}

const instance = (env: string, port: number) => `toss-${APP}-${env}@${port}.service`;
const proxy = (env: string, port: number) => `toss-wake-${APP}-${env}@${port}.service`;
const socket = (env: string, port: number) => `toss-wake-${APP}-${env}@${port}.socket`;

/** Puts pr-7 to sleep the way its idle proxy does (the proxy exits; the instance follows). */
async function sleepNow(port: number): Promise<void> {
  await inHost(host, ['systemctl', 'stop', '--', proxy('pr-7', port)]);
  for (let i = 0; i < 100 && (await unitState(instance('pr-7', port))) !== 'inactive'; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(await unitState(instance('pr-7', port))).toBe('inactive');
}

async function deploy(env: string): Promise<void> {
  const run = await toss(host, ['deploy', env], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
}

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, {
    app: APP,
    previews: { sleepAfter: `${SLEEP_SECONDS}s` },
  });
  await deploy('production');
  await deploy('pr-7');
}, 180_000);
afterAll(async () => {
  await host?.shutdown();
});

describe('a sleeping preview', () => {
  it('sleeps after its idle time: the instance stops, the socket keeps listening', async () => {
    const { livePort } = await listed('pr-7');
    // Just deployed: awake, counting its idle time.
    expect(await unitState(instance('pr-7', livePort))).toBe('active');
    expect((await fetchSite(host, prName())).status).toBe(200);
    const since = Date.now();
    // It goes through `deactivating` while its process stops: wait for the end of that.
    while (['active', 'deactivating'].includes(await unitState(instance('pr-7', livePort)))) {
      expect(Date.now() - since).toBeLessThan((SLEEP_SECONDS + 10) * 1000);
      await new Promise((r) => setTimeout(r, 250));
    }
    const slept = (Date.now() - since) / 1000;
    console.log(`SLEEP | idle ${SLEEP_SECONDS} s | instance stopped after ${slept.toFixed(1)} s`);
    expect(slept).toBeGreaterThanOrEqual(SLEEP_SECONDS - 1);
    expect(await unitState(instance('pr-7', livePort))).toBe('inactive');
    expect(await unitState(socket('pr-7', livePort))).toBe('active');
    // Its processes are gone: nothing of the preview's user runs.
    const ps = await host.exec(['pgrep', '-u', `toss-${APP}_pv`]);
    expect(ps.stdout.trim()).toBe('');
    expect((await listed('pr-7')).service).toBe('sleeping');
    // Production never sleeps unless toss.json names it.
    expect((await listed('production')).service).toBe('active');
  }, 60_000);

  it('wakes on the first HTTPS request, which gets the app’s answer', async () => {
    const { livePort } = await listed('pr-7');
    const times: number[] = [];
    // More than five in ten seconds: systemd's default start limit would refuse the sixth.
    for (let i = 0; i < 8; i++) {
      await sleepNow(livePort);
      const started = performance.now();
      const res = await fetchSite(host, prName(), '/', { timeoutMs: 30_000 });
      times.push(performance.now() - started);
      expect(res.status, res.body).toBe(200);
      expect(res.body).toContain('Hello');
    }
    const sorted = [...times].sort((a, b) => a - b);
    console.log(
      `WAKE | examples/hello | ${times.length} wakes | median ${sorted[4]?.toFixed(0)} ms | worst ${sorted.at(-1)?.toFixed(0)} ms`,
    );
  }, 120_000);

  it('is not woken by toss list, toss status, or a redeploy; a redeploy leaves it asleep', async () => {
    const { livePort } = await listed('pr-7');
    await sleepNow(livePort);
    const status = await toss(host, ['status'], { cwd: app.dir });
    expect(status.code, status.output).toBe(0);
    expect(status.stdout).not.toMatch(/pr-7.*(inactive|failed)/);
    expect((await listed('pr-7')).service).toBe('sleeping');
    expect(await unitState(instance('pr-7', livePort))).toBe('inactive');

    await app.commit('message.txt', 'Hello from the second release\n');
    await deploy('pr-7');
    const after = await listed('pr-7');
    expect(after.livePort).not.toBe(livePort);
    expect(after.service).toBe('sleeping');
    expect(await unitState(instance('pr-7', after.livePort))).toBe('inactive');
    // The old port's units are gone; the new one's socket listens.
    expect(await unitState(socket('pr-7', livePort))).toBe('inactive');
    expect(await unitState(socket('pr-7', after.livePort))).toBe('active');
    const res = await fetchSite(host, prName(), '/', { timeoutMs: 30_000 });
    expect(res.body).toContain('second release');
  }, 120_000);

  it('rolls back while asleep', async () => {
    const { livePort } = await listed('pr-7');
    await sleepNow(livePort);
    const run = await toss(host, ['rollback', 'pr-7'], { cwd: app.dir });
    expect(run.code, run.output).toBe(0);
    const res = await fetchSite(host, prName(), '/', { timeoutMs: 30_000 });
    expect(res.status).toBe(200);
    expect(res.body).not.toContain('second release');
  }, 120_000);

  it('stays awake at the end of a redeploy that requests woke, and cuts none of them', async () => {
    const { livePort } = await listed('pr-7');
    await sleepNow(livePort);
    await app.commit('message.txt', 'Hello from a release requests woke\n');
    const running = startToss(host, ['deploy', 'pr-7'], { cwd: app.dir });
    // The deploy has seen the preview asleep (its read of the server is done) before the first
    // request comes; requests then keep coming through its end, as a reviewer's would.
    await running.waitFor('Prepare release', 60_000);
    const probe = startProbe(host, prName(), 50);
    const run = await running.done;
    await new Promise((r) => setTimeout(r, 1000));
    const probed = await probe.stop();
    expect(run.code, run.output).toBe(0);
    const after = await listed('pr-7');
    expect(after.livePort).not.toBe(livePort);
    expect(await unitState(instance('pr-7', after.livePort))).toBe('active');
    expect(probed.failed, probed.failures.join('\n')).toBe(0);
    expect(probed.ok).toBeGreaterThan(10);
    expect(run.output).toMatch(/woken by requests during the deploy: awake until idle/);
  }, 120_000);

  it('only Caddy and root can use its socket: another preview’s user cannot wake or reach it', async () => {
    const { livePort } = await listed('pr-7');
    const path = `/run/toss-wake/${livePort}.sock`;
    expect((await inHost(host, ['stat', '-c', '%U:%G %a', path])).trim()).toBe('root:caddy 660');
    const attempt = await host.exec([
      'systemd-run',
      '--quiet',
      '--wait',
      '--pipe',
      `--uid=toss-${APP}_pv`,
      '--',
      'python3',
      '-c',
      `import socket; s = socket.socket(socket.AF_UNIX); s.connect(${JSON.stringify(path)})`,
    ]);
    expect(attempt.code).not.toBe(0);
    expect(attempt.stderr + attempt.stdout).toContain('PermissionError');
  }, 60_000);

  it('goes with its preview: toss remove leaves no wake unit or socket behind', async () => {
    const { livePort } = await listed('pr-7');
    const run = await toss(host, ['remove', 'pr-7', '--force'], { cwd: app.dir });
    expect(run.code, run.output).toBe(0);
    const units = await inHost(host, [
      'systemctl',
      'list-units',
      '--all',
      '--plain',
      'toss-wake-*',
    ]);
    expect(units).not.toContain(`toss-wake-${APP}-pr-7`);
    const files = await host.exec(['ls', `/run/toss-wake/${livePort}.sock`]);
    expect(files.code).not.toBe(0);
    const templates = await host.exec(['ls', `/etc/systemd/system/toss-wake-${APP}-pr-7@.socket`]);
    expect(templates.code).not.toBe(0);
  }, 60_000);
});
