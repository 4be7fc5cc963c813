/**
 * The deploy pipeline end to end: the real CLI against a real host,
 * every page checked over verified HTTPS through Caddy.
 */
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

let host: TestHost;
let app: AppCheckout;
const prodName = () => sslipName(host, 'hello', 'production');
const previewName = () => sslipName(host, 'hello', 'pr-7');

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, { keepReleases: 2 });
});
afterAll(async () => {
  await host?.shutdown();
});

async function deployOk(args: string[]) {
  const run = await toss(host, ['deploy', ...args], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
  return run;
}

async function releasesOf(env: string): Promise<string[]> {
  const out = await inHost(host, ['ls', '-1', `/srv/hello/${env}/releases`]);
  return out.split('\n').filter(Boolean).sort();
}

describe('toss deploy against a real server', () => {
  it('serves examples/hello on production over verified HTTPS, logging in once', async () => {
    const before = await sshLogins(host);
    const run = await deployOk(['production']);
    // One connection: commands and rsync's data both go through it (the target is at most two).
    expect(await sshLogins(host)).toBe(before + 1);
    expect(run.stdout).toContain(`https://${prodName()}/`);
    const page = await fetchSite(host, prodName());
    expect(page).toEqual({ status: 200, body: 'Hello from toss!\n' });
  });

  it('deploys pr-7 beside it: own name, port and unit; production unaffected', async () => {
    const probe = startProbe(host, prodName());
    await deployOk(['pr-7']);
    const result = await probe.stop();
    expect(result.failed, result.failures.join('\n')).toBe(0);
    expect((await fetchSite(host, previewName())).body).toBe('Hello from toss!\n');
    const state = JSON.parse(await inHost(host, ['cat', '/srv/hello/.toss/state.json']));
    const prod = state.environments.production;
    const pr = state.environments['pr-7'];
    expect(new Set([...prod.ports, ...pr.ports]).size).toBe(4);
    const units = await inHost(host, [
      'systemctl',
      'list-units',
      '--no-legend',
      '--plain',
      'toss-hello-*',
    ]);
    expect(units).toContain(`toss-hello-production@${prod.livePort}.service`);
    expect(units).toContain(`toss-hello-pr-7@${pr.livePort}.service`);
    // Apps run as their own unprivileged users, production and previews apart.
    const prodUser = await inHost(host, [
      'systemctl',
      'show',
      '-P',
      'User',
      `toss-hello-production@${prod.livePort}.service`,
    ]);
    const prUser = await inHost(host, [
      'systemctl',
      'show',
      '-P',
      'User',
      `toss-hello-pr-7@${pr.livePort}.service`,
    ]);
    expect(prodUser.trim()).not.toBe('root');
    expect(prUser.trim()).not.toBe(prodUser.trim());
  });

  it('redeploys a change with zero failed probe requests and prunes to keepReleases', async () => {
    for (const n of [1, 2, 3]) {
      await app.commit('message.txt', `Release ${n}\n`);
      const probe = startProbe(host, prodName());
      await deployOk(['production']);
      const result = await probe.stop();
      expect(result.failed, result.failures.join('\n')).toBe(0);
      expect(result.ok).toBeGreaterThan(5);
      expect((await fetchSite(host, prodName())).body).toBe(`Release ${n}\n`);
    }
    const current = (await inHost(host, ['readlink', '/srv/hello/production/current'])).trim();
    const state = JSON.parse(await inHost(host, ['cat', '/srv/hello/.toss/state.json']));
    expect(current).toBe(`releases/${state.environments.production.release}`);
    expect(await releasesOf('production')).toHaveLength(2);
    await app.commit('message.txt', 'Preview again\n');
    await deployOk(['pr-7']);
    await app.commit('message.txt', 'Preview thrice\n');
    await deployOk(['pr-7']);
    expect(await releasesOf('pr-7')).toHaveLength(2);
    expect((await fetchSite(host, previewName())).body).toBe('Preview thrice\n');
  });

  it('removes pr-7 completely and reuses its ports for the next new environment', async () => {
    const state = JSON.parse(await inHost(host, ['cat', '/srv/hello/.toss/state.json']));
    const ports = state.environments['pr-7'].ports;
    const run = await toss(host, ['remove', 'pr-7'], { cwd: app.dir });
    expect(run.code, run.output).toBe(0);
    const units = await inHost(host, [
      'systemctl',
      'list-units',
      '--all',
      '--no-legend',
      '--plain',
      'toss-hello-pr-7*',
    ]);
    expect(units.trim()).toBe('');
    for (const gone of [
      '/etc/systemd/system/toss-hello-pr-7@.service',
      '/etc/caddy/toss/hello-pr-7.caddy',
      '/srv/hello/pr-7',
      '/srv/hello/.toss/secrets/overrides/pr-7.env',
    ]) {
      expect((await host.exec(['test', '-e', gone])).code, gone).not.toBe(0);
    }
    const after = JSON.parse(await inHost(host, ['cat', '/srv/hello/.toss/state.json']));
    expect(after.environments['pr-7']).toBeUndefined();
    const registry = JSON.parse(await inHost(host, ['cat', '/var/lib/toss/registry.json']));
    expect(registry.apps.hello.environments['pr-7']).toBeUndefined();
    expect((await fetchSite(host, prodName())).status).toBe(200);

    await deployOk(['pr-8']);
    const next = JSON.parse(await inHost(host, ['cat', '/srv/hello/.toss/state.json']));
    expect(next.environments['pr-8'].ports).toEqual(ports);
  });

  it('says so when removing an unknown environment, and refuses production without --force', async () => {
    const unknown = await toss(host, ['remove', 'pr-999'], { cwd: app.dir });
    expect(unknown.code, unknown.output).toBe(0);
    expect(unknown.output).toContain('nothing to remove');
    const prod = await toss(host, ['remove', 'production'], { cwd: app.dir });
    expect(prod.code).toBe(1);
    expect(prod.stderr).toContain('refusing to remove production without --force');
    expect((await fetchSite(host, prodName())).status).toBe(200);
  });

  it('deploys as a non-root user through sudo -n, rsync included', async () => {
    app.configure({ server: `deploy@${host.ip}` });
    try {
      await app.commit('message.txt', 'Via sudo\n');
      await deployOk(['pr-9']);
      expect((await fetchSite(host, sslipName(host, 'hello', 'pr-9'))).body).toBe('Via sudo\n');
      const owner = await inHost(host, ['stat', '-c', '%U', '/srv/hello/pr-9/current/server.js']);
      expect(owner.trim()).toBe('root');
    } finally {
      app.configure({ server: `root@${host.ip}` });
    }
  });
});
