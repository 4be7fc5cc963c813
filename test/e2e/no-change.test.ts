/**
 * A deploy that changes nothing does nothing, on a real host: the same tree again (every mtime new,
 * as in a fresh checkout, and a new commit that changes no uploaded file) leaves the live
 * instance's PID, Caddy's files and running configuration, the release list and state.json as they
 * were, with one SSH login; `--force` redeploys; a changed file or override deploys; a sleeping
 * preview is not woken by it.
 */
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import {
  type AppCheckout,
  fetchSite,
  inHost,
  makeApp,
  sshLogins,
  sslipName,
  startProbe,
  toss,
} from './support/app.js';

const APP = 'same';

let host: TestHost;
let app: AppCheckout;

async function deploy(env: string, ...flags: string[]) {
  const run = await toss(host, ['deploy', env, ...flags], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
  return run;
}

/** What a no-change deploy must leave exactly as it was. */
async function snapshot(env: string) {
  const state = JSON.parse(await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`]));
  const live = state.environments[env];
  const unit = `toss-${APP}-${env}@${live.livePort}.service`;
  const show = await inHost(host, ['systemctl', 'show', '-p', 'MainPID,ActiveState', '--', unit]);
  return {
    stateJson: await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`]),
    instance: show.trim(),
    caddyFiles: await inHost(host, [
      'sh',
      '-c',
      'find /etc/caddy -type f -print0 | sort -z | xargs -0 sha256sum',
    ]),
    // What Caddy runs, from its admin socket: a reload would be seen in its config and its log.
    caddyConfig: await inHost(host, [
      'curl',
      '-sS',
      '--unix-socket',
      '/run/caddy/admin.sock',
      'http://localhost/config/',
    ]),
    caddyPid: (await inHost(host, ['systemctl', 'show', '-p', 'MainPID', 'caddy'])).trim(),
    // -A: a staging copy left behind would show too.
    releases: await inHost(host, ['ls', '-1A', `/srv/${APP}/${env}/releases`]),
    release: live.release as string,
  };
}

async function caddyReloads(): Promise<number> {
  const log = await inHost(host, ['journalctl', '--no-pager', '-u', 'caddy', '-o', 'cat']);
  return log.split('\n').filter((line) => line.includes('"load complete"')).length;
}

/** Every file's mtime new, as in a fresh CI checkout; and a commit that uploads nothing new. */
async function freshCheckout(): Promise<void> {
  const now = new Date();
  for (const file of ['toss.json', 'server.js', 'package.json']) {
    utimesSync(join(app.dir, file), now, now);
  }
  await app.commit('.github-note', 'not uploaded\n');
}

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, { app: APP, previews: { sleepAfter: '10s' } });
  // The file the last commit adds is one the upload leaves out.
  await app.commit('.tossignore', '.github-note\n');
  await deploy('production');
}, 180_000);
afterAll(async () => {
  await host?.shutdown();
});

describe('a deploy that changes nothing', () => {
  it('leaves the instance, Caddy, the releases and state.json untouched, with one login', async () => {
    const before = await snapshot('production');
    const reloads = await caddyReloads();
    const logins = await sshLogins(host);
    const probe = startProbe(host, sslipName(host, APP, 'production'));
    await freshCheckout();
    const run = await deploy('production');
    const probed = await probe.stop();

    expect(run.stdout).toContain(
      `production is unchanged, still live at https://${sslipName(host, APP, 'production')}/ (release ${before.release}); --force deploys anyway`,
    );
    expect(run.output).toMatch(/Compare with the live release.*unchanged since release/);
    expect(run.output).not.toMatch(/Acquire lock|Upload files|Route traffic/);
    expect(await snapshot('production')).toEqual(before);
    expect(await caddyReloads()).toBe(reloads);
    expect((await sshLogins(host)) - logins).toBe(1);
    expect(probed.failures).toEqual([]);
    expect(probed.ok).toBeGreaterThan(0);
  });

  it('--force deploys anyway: a new release, a new instance, zero failed requests', async () => {
    const before = await snapshot('production');
    const probe = startProbe(host, sslipName(host, APP, 'production'));
    const run = await deploy('production', '--force');
    const probed = await probe.stop();
    expect(run.output).not.toContain('Compare with the live release');
    const after = await snapshot('production');
    expect(after.release).not.toBe(before.release);
    expect(after.instance).not.toBe(before.instance);
    expect(after.releases.split('\n')).toContain(after.release);
    expect(probed.failures).toEqual([]);
    // The release --force made is the live one's fingerprint again: the next run changes nothing.
    const again = await deploy('production');
    expect(again.stdout).toContain(`unchanged, still live`);
    expect((await snapshot('production')).release).toBe(after.release);
  });

  it('a changed file, or a changed override, deploys and says what changed', async () => {
    const { release } = await snapshot('production');
    await app.commit('public.txt', 'new\n');
    const changed = await deploy('production');
    expect(changed.output).toMatch(/Compare with the live release.*files changed: deploying/);
    const next = (await snapshot('production')).release;
    expect(next).not.toBe(release);

    const override = await deploy('production', '-s', 'GREETING=hi');
    expect(override.output).toMatch(/variables changed: deploying/);
    expect((await snapshot('production')).release).not.toBe(next);
    // The same override again is no change.
    const same = await deploy('production', '-s', 'GREETING=hi');
    expect(same.stdout).toContain('unchanged, still live');
  });

  it('does not wake a sleeping preview', async () => {
    await deploy('pr-3');
    const state = JSON.parse(await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`]));
    const port = state.environments['pr-3'].livePort as number;
    const instance = `toss-${APP}-pr-3@${port}.service`;
    const isActive = async (unit: string) =>
      (await host.exec(['systemctl', 'is-active', '--', unit])).stdout.trim();
    // Its idle proxy exits after 10 s without a request, and the instance with it.
    const since = Date.now();
    while ((await isActive(instance)) !== 'inactive') {
      expect(Date.now() - since).toBeLessThan(40_000);
      await new Promise((r) => setTimeout(r, 250));
    }
    const run = await deploy('pr-3');
    expect(run.stdout).toContain('pr-3 is unchanged, still live');
    expect(await isActive(instance)).toBe('inactive');
    expect(await isActive(`toss-wake-${APP}-pr-3@${port}.socket`)).toBe('active');
    // And it still wakes on a request.
    const res = await fetchSite(host, sslipName(host, APP, 'pr-3'), '/', { timeoutMs: 30_000 });
    expect(res.status).toBe(200);
  }, 90_000);
});
