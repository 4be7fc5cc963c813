/**
 * Several apps on one server: a domain app, an sslip.io app whose name
 * the first one's prefixes, names another app owns refused, the user's own Caddy site untouched,
 * origins checked, and dependencies applied once by production deploys only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateSchema } from '../../src/server/state.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, fetchSite, inHost, makeApp, sslipName, toss } from './support/app.js';

let host: TestHost;
let shop: AppCheckout;
let api: AppCheckout;
const apiName = (env: string) => sslipName(host, 'shop-api', env);

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  shop = await makeApp(host, { app: 'shop', domain: 'shop.test' });
  await shop.commit('message.txt', 'Shop\n');
  api = await makeApp(host, { app: 'shop-api' });
  await api.commit('message.txt', 'Shop API\n');
});
afterAll(async () => {
  await host?.shutdown();
});

async function deployOk(app: AppCheckout, env: string) {
  const run = await toss(host, ['deploy', env], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
  return run;
}

async function stateOf(app: string) {
  return stateSchema.parse(JSON.parse(await inHost(host, ['cat', `/srv/${app}/.toss/state.json`])));
}

async function registry() {
  return JSON.parse(await inHost(host, ['cat', '/var/lib/toss/registry.json'])) as {
    apps: Record<
      string,
      { origin?: string; environments: Record<string, { ports: number[]; hostNames: string[] }> }
    >;
  };
}

async function lines(argv: string[]): Promise<string[]> {
  return (await inHost(host, argv)).split('\n').filter(Boolean).sort();
}

/** Every page served now, by host name: what no refused deploy may change. */
async function servedPages() {
  return {
    shop: await fetchSite(host, 'shop.test'),
    shopPreview: await fetchSite(host, 'pr-1.preview.shop.test'),
    api: await fetchSite(host, apiName('production')),
    user: await fetchSite(host, 'harness.test'),
  };
}

describe('several apps on one server', () => {
  it('serves a domain app and an sslip.io app named with its prefix, each over verified HTTPS', async () => {
    await deployOk(shop, 'production');
    await deployOk(shop, 'pr-1');
    await deployOk(api, 'production');
    expect(await servedPages()).toEqual({
      shop: { status: 200, body: 'Shop\n' },
      shopPreview: { status: 200, body: 'Shop\n' },
      api: { status: 200, body: 'Shop API\n' },
      user: { status: 200, body: 'user site' },
    });
  });

  it('keeps every app to its own units, sites and ports', async () => {
    const shopState = await stateOf('shop');
    const apiState = await stateOf('shop-api');
    const port = (s: typeof shopState, env: string) => s.environments[env]!.livePort;
    expect(await lines(['sh', '-c', 'cd /etc/systemd/system && ls -1d toss-*@.service'])).toEqual([
      'toss-shop-api-production@.service',
      'toss-shop-pr-1@.service',
      'toss-shop-production@.service',
      // The preview's wake proxy: it sleeps when idle.
      'toss-wake-shop-pr-1@.service',
    ]);
    const running = await lines([
      'sh',
      '-c',
      "systemctl list-units --no-legend --plain --state=running 'toss-*' | cut -d ' ' -f 1",
    ]);
    expect(running).toEqual(
      [
        `toss-shop-api-production@${port(apiState, 'production')}.service`,
        `toss-shop-pr-1@${port(shopState, 'pr-1')}.service`,
        `toss-shop-production@${port(shopState, 'production')}.service`,
        // The preview is awake, counting its idle time in its wake proxy, which holds its socket.
        `toss-wake-shop-pr-1@${port(shopState, 'pr-1')}.service`,
        `toss-wake-shop-pr-1@${port(shopState, 'pr-1')}.socket`,
      ].sort(),
    );
    // Each instance runs the release of its own app.
    for (const [app, state, env] of [
      ['shop', shopState, 'production'],
      ['shop', shopState, 'pr-1'],
      ['shop-api', apiState, 'production'],
    ] as const) {
      const unit = `toss-${app}-${env}@${port(state, env)}.service`;
      const cwd = await inHost(host, ['systemctl', 'show', '-P', 'WorkingDirectory', unit]);
      expect(cwd.trim(), unit).toMatch(new RegExp(`^/srv/${app}/${env}/`));
    }
    expect(await lines(['sh', '-c', 'cd /etc/caddy/toss && ls -1'])).toEqual([
      'shop-api-production.caddy',
      'shop-pr-1.caddy',
      'shop-production.caddy',
    ]);
    const site = (name: string) => inHost(host, ['cat', `/etc/caddy/toss/${name}.caddy`]);
    expect(await site('shop-production')).toContain(
      `shop.test {\n\ttls internal {\n\t\ton_demand\n\t}\n\treverse_proxy 127.0.0.1:${port(shopState, 'production')} {\n`,
    );
    expect(await site('shop-pr-1')).toContain(
      // A preview sleeps when idle: Caddy reaches it through its wake socket, and it is not indexed.
      `pr-1.preview.shop.test {\n\ttls internal {\n\t\ton_demand\n\t}\n\theader X-Robots-Tag noindex\n\treverse_proxy unix//run/toss-wake/${port(shopState, 'pr-1')}.sock {\n`,
    );
    expect(await site('shop-api-production')).toContain(
      `${apiName('production')} {\n\ttls internal {\n\t\ton_demand\n\t}\n\treverse_proxy 127.0.0.1:${port(apiState, 'production')} {\n`,
    );
    const reg = await registry();
    const ports = Object.values(reg.apps).flatMap((a) =>
      Object.values(a.environments).flatMap((e) => e.ports),
    );
    expect(ports).toHaveLength(6);
    expect(new Set(ports).size).toBe(6);
    expect(reg.apps.shop!.environments.production!.ports).toEqual(
      shopState.environments.production!.ports,
    );
    expect(reg.apps['shop-api']!.environments.production!.ports).toEqual(
      apiState.environments.production!.ports,
    );
  });

  it('refuses a deploy whose unit names another app owns, naming the owner', async () => {
    // shop/api-x and shop-api/x both make toss-shop-api-x@.service.
    await deployOk(api, 'x');
    const siteBefore = await inHost(host, ['cat', '/etc/caddy/toss/shop-api-x.caddy']);
    const unitBefore = await inHost(host, ['cat', '/etc/systemd/system/toss-shop-api-x@.service']);
    const before = await servedPages();
    const run = await toss(host, ['deploy', 'api-x'], { cwd: shop.dir });
    expect(run.code, run.output).toBe(1);
    expect(run.stderr).toContain('cannot deploy shop/api-x on this server');
    expect(run.stderr).toContain(
      'toss-shop-api-x@.service belongs to app shop-api (environment x)',
    );
    expect((await fetchSite(host, apiName('x'))).body).toBe('Shop API\n');
    expect(await servedPages()).toEqual(before);
    expect(await inHost(host, ['cat', '/etc/caddy/toss/shop-api-x.caddy'])).toBe(siteBefore);
    expect(await inHost(host, ['cat', '/etc/systemd/system/toss-shop-api-x@.service'])).toBe(
      unitBefore,
    );
    expect((await stateOf('shop')).environments['api-x']).toBeUndefined();
    expect((await registry()).apps.shop!.environments['api-x']).toBeUndefined();
    expect((await host.exec(['test', '-e', '/srv/shop/api-x'])).code).not.toBe(0);
    // Its first upload (staged outside the app while the lock was taken) went with the refusal.
    expect((await host.exec(['sh', '-c', 'ls -A /srv/.toss-incoming 2>/dev/null'])).stdout).toBe(
      '',
    );
  });

  it('refuses a second app claiming the same domain', async () => {
    const store = await makeApp(host, { app: 'store', domain: 'shop.test' });
    await store.commit('message.txt', 'Store\n');
    const before = await servedPages();
    const run = await toss(host, ['deploy', 'production'], { cwd: store.dir });
    expect(run.code, run.output).toBe(1);
    expect(run.stderr).toContain(
      'host name shop.test belongs to app shop (environment production)',
    );
    expect(await servedPages()).toEqual(before);
    expect(await lines(['sh', '-c', 'cd /etc/caddy/toss && ls -1'])).not.toContain(
      'store-production.caddy',
    );
    expect((await registry()).apps.store?.environments.production).toBeUndefined();
  });

  it("leaves the user's own Caddy site serving, with toss's import line added once", async () => {
    expect(await fetchSite(host, 'harness.test')).toEqual({ status: 200, body: 'user site' });
    const caddyfile = await inHost(host, ['cat', '/etc/caddy/Caddyfile']);
    expect(caddyfile).toContain('https://harness.test {\n\trespond "user site"\n}');
    const imports = caddyfile
      .split('\n')
      .filter((l) => l.trim() === 'import /etc/caddy/toss/*.caddy');
    expect(imports).toHaveLength(1);
  });

  it('refuses a deploy from another repository under the same app name, naming both', async () => {
    const impostor = await makeApp(
      host,
      { app: 'shop', domain: 'shop.test' },
      'git@github.com:someone/else.git',
    );
    await impostor.commit('message.txt', 'Not the shop\n');
    const stateBefore = await stateOf('shop');
    const run = await toss(host, ['deploy', 'production'], { cwd: impostor.dir });
    expect(run.code, run.output).toBe(1);
    expect(run.stderr).toContain('github.com/octo/shop');
    expect(run.stderr).toContain('github.com/someone/else');
    expect((await fetchSite(host, 'shop.test')).body).toBe('Shop\n');
    expect((await stateOf('shop')).environments).toEqual(stateBefore.environments);
  });

  it('treats the https form of the same repository as the same origin', async () => {
    const sameRepo = await makeApp(
      host,
      { app: 'shop', domain: 'shop.test' },
      'https://github.com/octo/shop',
    );
    await sameRepo.commit('message.txt', 'Shop over https\n');
    await deployOk(sameRepo, 'production');
    expect((await fetchSite(host, 'shop.test')).body).toBe('Shop over https\n');
  });

  it('applies dependencies once per server on production deploys, and records them', async () => {
    const command = 'touch /var/lib/toss-dep-marker && echo applied >> /var/lib/toss-dep-count';
    api.configure({ dependencies: { marker: command } });
    await api.commit('message.txt', 'Shop API with deps\n');
    const run = await deployOk(api, 'production');
    expect(run.output).toContain('applied marker');
    expect((await host.exec(['test', '-f', '/var/lib/toss-dep-marker'])).code).toBe(0);
    expect(await inHost(host, ['cat', '/var/lib/toss-dep-count'])).toBe('applied\n');
    const recorded = (await stateOf('shop-api')).dependencies.marker;
    expect(recorded?.command).toBe(command);

    await api.commit('message.txt', 'Shop API again\n');
    await deployOk(api, 'production');
    expect(await inHost(host, ['cat', '/var/lib/toss-dep-count'])).toBe('applied\n');
    expect((await stateOf('shop-api')).dependencies.marker).toEqual(recorded);
    expect((await fetchSite(host, apiName('production'))).body).toBe('Shop API again\n');
  });

  it('fails a preview deploy that needs an unapplied dependency, naming it, changing nothing', async () => {
    api.configure({
      dependencies: {
        marker: 'touch /var/lib/toss-dep-marker && echo applied >> /var/lib/toss-dep-count',
        'second-dep': 'echo two >> /var/lib/toss-dep-second',
      },
    });
    await api.commit('message.txt', 'Preview wanting a dependency\n');
    const stateBefore = await stateOf('shop-api');
    const registryBefore = await registry();
    const run = await toss(host, ['deploy', 'pr-5'], { cwd: api.dir });
    expect(run.code, run.output).toBe(1);
    expect(run.stderr).toContain('second-dep');
    expect(run.stderr).not.toContain('marker');
    expect((await host.exec(['test', '-e', '/var/lib/toss-dep-second'])).code).not.toBe(0);
    expect(await inHost(host, ['cat', '/var/lib/toss-dep-count'])).toBe('applied\n');
    expect(await stateOf('shop-api')).toEqual(stateBefore);
    expect(await registry()).toEqual(registryBefore);
    expect((await host.exec(['test', '-e', '/srv/shop-api/pr-5'])).code).not.toBe(0);
    // Its first upload (staged outside the app while the lock was taken) went with the refusal.
    expect((await host.exec(['sh', '-c', 'ls -A /srv/.toss-incoming 2>/dev/null'])).stdout).toBe(
      '',
    );
    expect((await host.exec(['test', '-e', '/etc/caddy/toss/shop-api-pr-5.caddy'])).code).not.toBe(
      0,
    );
    expect((await fetchSite(host, apiName('production'))).body).toBe('Shop API again\n');
  });

  it('gives three apps deployed for the first time at once three distinct pairs of ports', async () => {
    const names = ['race-a', 'race-b', 'race-c'];
    const apps = await Promise.all(names.map((app) => makeApp(host, { app })));
    const runs = await Promise.all(
      apps.map((app) => toss(host, ['deploy', 'production'], { cwd: app.dir })),
    );
    for (const run of runs) expect(run.code, run.output).toBe(0);
    const ports = await Promise.all(
      names.map(async (app) => (await stateOf(app)).environments.production!.ports),
    );
    expect(new Set(ports.flat()).size).toBe(6);
    for (const app of names) {
      expect((await fetchSite(host, sslipName(host, app, 'production'))).status).toBe(200);
    }
  });
});
