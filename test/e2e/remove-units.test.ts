/**
 * `toss remove pr-N` on a real host leaves no systemd unit of the preview behind: no instance
 * (active, failed or inactive), no drain timer or service, no long-step unit, no slice systemd
 * made for the template's instances, no unit file; production's units stay, and the same
 * preview deploys again afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, fetchSite, inHost, makeApp, sslipName, toss } from './support/app.js';

let host: TestHost;
let app: AppCheckout;

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host);
});
afterAll(async () => {
  await host?.shutdown();
});

async function tossOk(args: string[]) {
  const run = await toss(host, args, { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
  return run;
}

/**
 * Every unit systemd has loaded and every unit file it knows, one per line, with systemd's
 * `\x2d` escapes (slice names) turned back into dashes so one pattern finds every form.
 */
async function systemdUnits(): Promise<string[]> {
  const loaded = await inHost(host, ['systemctl', 'list-units', '--all', '--plain', '--no-legend']);
  const files = await inHost(host, ['systemctl', 'list-unit-files', '--no-legend', '--no-pager']);
  return `${loaded}\n${files}`
    .split('\n')
    .map((line) => line.trim().replaceAll('\\x2d', '-'))
    .filter((line) => line !== '');
}

/** Lines naming the `<app>-<env>` stem, not a longer one that merely starts with it. */
function naming(lines: string[], stem: string): string[] {
  const pattern = new RegExp(`${stem.replaceAll('-', '\\-')}(?![a-z0-9])`);
  return lines.filter((line) => pattern.test(line));
}

/** The preview's live port, from state.json. */
async function livePort(environment: string): Promise<number> {
  const state = JSON.parse(await inHost(host, ['cat', '/srv/hello/.toss/state.json']));
  return state.environments[environment].livePort as number;
}

/** A connection to the old instance, held open from inside the host, that keeps its drain going. */
const HOLD_UNIT = 'e2e-hold-connection.service';

async function holdConnection(port: number): Promise<void> {
  await inHost(host, [
    'systemd-run',
    '--quiet',
    '--collect',
    `--unit=${HOLD_UNIT}`,
    '--',
    'bash',
    '-c',
    'exec 3<>"/dev/tcp/127.0.0.1/$1" && sleep 300',
    'bash',
    String(port),
  ]);
  const deadline = Date.now() + 10_000;
  const filter = `( dport = :${port} )`;
  while ((await inHost(host, ['ss', '-Htn', 'state', 'established', filter])).trim() === '') {
    if (Date.now() > deadline) throw new Error(`no connection to port ${port} within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Deploys a preview twice: the second deploy retires the first instance through a drain, kept
 * going by an open connection when `hold` is set. Returns the first instance's port.
 */
async function deployTwice(environment: string, hold: boolean): Promise<number> {
  await app.commit('message.txt', `${environment} once\n`);
  await tossOk(['deploy', environment]);
  const old = await livePort(environment);
  if (hold) await holdConnection(old);
  await app.commit('message.txt', `${environment} twice\n`);
  await tossOk(['deploy', environment]);
  return old;
}

/** Every link in a `*.wants` (or other) directory of /etc/systemd/system. */
async function bootLinks(): Promise<string[]> {
  const found = await inHost(host, [
    'find',
    '/etc/systemd/system',
    '-mindepth',
    '2',
    '-maxdepth',
    '2',
    '-type',
    'l',
  ]);
  return found.split('\n').filter((line) => line !== '');
}

async function isActive(unit: string): Promise<boolean> {
  return (await host.exec(['systemctl', 'is-active', '--quiet', '--', unit])).code === 0;
}

/** Removes the preview and expects nothing of it in systemd, production still serving. */
async function removeLeavesNothing(environment: string): Promise<void> {
  const stem = `hello-${environment}`;
  const before = naming(await systemdUnits(), stem);
  // The links that bring it back after a reboot (a sleeping preview's wake socket), made by toss.
  expect(naming(await bootLinks(), stem)).not.toEqual([]);
  await tossOk(['remove', environment]);
  const units = await systemdUnits();
  expect(naming(units, stem), `before remove:\n${before.join('\n')}`).toEqual([]);
  expect(naming(await bootLinks(), stem)).toEqual([]);
  expect(naming(units, 'hello-production').join('\n')).toContain('toss-hello-production@');
  expect((await fetchSite(host, sslipName(host, 'hello', 'production'))).status).toBe(200);
}

describe('toss remove pr-N', () => {
  beforeAll(async () => {
    await tossOk(['deploy', 'production']);
  });

  it('leaves no unit when it runs while the old instance is still draining', async () => {
    const old = await deployTwice('pr-7', true);
    // Still there: the drain, the instance it will stop, the new one with its wake socket and
    // proxy (a preview sleeps when idle).
    const units = naming(await systemdUnits(), 'hello-pr-7').join('\n');
    expect(units).toContain(`toss-drain-hello-pr-7-${old}`);
    expect(await isActive(`toss-hello-pr-7@${old}.service`)).toBe(true);
    expect(units).toContain('toss-wake-hello-pr-7@');
    await removeLeavesNothing('pr-7');
    await host.exec(['systemctl', 'stop', HOLD_UNIT]);
  });

  it('leaves no unit when it runs after the drain stopped the old instance', async () => {
    const old = await deployTwice('pr-8', false);
    const drained = Date.now() + 90_000;
    while (
      (await isActive(`toss-hello-pr-8@${old}.service`)) ||
      (await isActive(`toss-drain-hello-pr-8-${old}.service`))
    ) {
      if (Date.now() > drained) throw new Error(`pr-8's instance on ${old} never stopped`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await removeLeavesNothing('pr-8');
  });

  it('deploys the removed preview again', async () => {
    await app.commit('message.txt', 'Preview after remove\n');
    await tossOk(['deploy', 'pr-7']);
    const site = await fetchSite(host, sslipName(host, 'hello', 'pr-7'));
    expect(site.body).toBe('Preview after remove\n');
    expect(naming(await systemdUnits(), 'hello-pr-7').join('\n')).toContain(
      `toss-hello-pr-7@${await livePort('pr-7')}.service`,
    );
  });
});
