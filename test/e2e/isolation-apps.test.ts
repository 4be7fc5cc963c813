/**
 * With apps `shop` and `shop-api` on one host, `<app>-<env>` makes
 * shop/api-staging and shop-api/staging the same unit and site names. Nothing `shop` does
 * (`toss remove`, the action on a branch deletion, the sweep, the pruning of its releases, its
 * `status`) changes anything of shop-api's: its sites, unit templates, instances, releases,
 * registry entry and state stay byte for byte, and it keeps serving; each refusal names the
 * owner. A branch named like an environment deployed by hand gets its own preview, and its
 * deletion removes that preview only.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashedPreviewName } from '../../src/config/env-name.js';
import { type FakeGitHub, startFakeGitHub } from '../support/fake-github/server.js';
import {
  branchPush,
  branchPushExample,
  deletePayload,
  example,
  schedulePayload,
} from '../support/webhook-events.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, fetchSite, inHost, makeApp, sslipName, toss } from './support/app.js';
import { type ActionRunOptions, runAction } from './support/runner.js';

let host: TestHost;
let fake: FakeGitHub;
let shop: AppCheckout;
let api: AppCheckout;
const OWNER = 'toss-shop-api-staging@.service belongs to app shop-api (environment staging)';
const apiName = (env: string) => sslipName(host, 'shop-api', env);

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  fake = await startFakeGitHub();
  // The action deploys from the fake's repository: shop's origin is that repository.
  shop = await makeApp(
    host,
    {
      app: 'shop',
      domain: 'shop.test',
      keepReleases: 2,
      branches: { main: 'production', '**': 'preview' },
    },
    `https://github.com/${fake.repository}.git`,
  );
  await shop.commit('message.txt', 'Shop\n');
  api = await makeApp(host, { app: 'shop-api' });
  await api.commit('message.txt', 'Shop API\n');
  for (const [app, env] of [
    [shop, 'production'],
    [api, 'production'],
    [api, 'staging'],
  ] as const) {
    const run = await toss(host, ['deploy', env], { cwd: app.dir });
    expect(run.code, run.output).toBe(0);
  }
}, 300_000);
afterAll(async () => {
  await fake?.close();
  await host?.shutdown();
});
afterEach(() => {
  expect(fake.violations, fake.violations.join('\n')).toEqual([]);
});

/** Everything of shop-api's on the server, read as root inside the host. */
async function shopApi() {
  const sh = (script: string) => inHost(host, ['sh', '-c', script]);
  const registry = JSON.parse(await sh('cat /var/lib/toss/registry.json'));
  return {
    sites: await sh('for f in /etc/caddy/toss/shop-api-*.caddy; do echo "== $f"; cat "$f"; done'),
    units: await sh(
      'for f in /etc/systemd/system/toss-shop-api-*@.service; do echo "== $f"; cat "$f"; done',
    ),
    instances: await sh(
      "systemctl list-units --no-legend --plain 'toss-shop-api-*' | awk '{print $1, $3, $4}' | sort",
    ),
    releases: await sh('find /srv/shop-api -maxdepth 3 -path "*/releases/*" | sort'),
    state: await sh('cat /srv/shop-api/.toss/state.json'),
    registry: registry.apps['shop-api'],
    serving: {
      production: await fetchSite(host, apiName('production')),
      staging: await fetchSite(host, apiName('staging')),
    },
  };
}

async function shopState() {
  return JSON.parse(await inHost(host, ['cat', '/srv/shop/.toss/state.json'])) as {
    environments: Record<
      string,
      { branch?: string; branchPreview?: boolean; releases: string[]; pr?: number }
    >;
    lock: unknown;
  };
}

function action(
  options: Pick<ActionRunOptions, 'eventName' | 'payload' | 'ref'> & {
    inputs?: Record<string, string>;
  },
) {
  return runAction({
    workspace: shop.dir,
    apiUrl: fake.url,
    repository: fake.repository,
    ...options,
    inputs: {
      'ssh-key': host.key,
      'known-hosts': host.knownHostsLines.join('\n'),
      'github-token': 'ghs_fake_installation_token',
      ...options.inputs,
    },
  });
}

describe('shop never touches what shop-api owns', () => {
  it('starts with shop-api serving its production and staging', async () => {
    const before = await shopApi();
    expect(before.serving).toEqual({
      production: { status: 200, body: 'Shop API\n' },
      staging: { status: 200, body: 'Shop API\n' },
    });
    expect(before.units).toContain('toss-shop-api-staging@.service');
    expect(before.instances).toMatch(/toss-shop-api-staging@\d+\.service active running/);
  });

  it('toss remove api-staging in shop: refused naming the owner, shop-api unchanged', async () => {
    const before = await shopApi();
    const run = await toss(host, ['remove', 'api-staging'], { cwd: shop.dir });
    expect(run.code, run.output).toBe(1);
    expect(run.stderr).toContain('refusing to remove shop/api-staging');
    expect(run.stderr).toContain(OWNER);
    expect(run.stderr).toContain('/etc/caddy/toss/shop-api-staging.caddy belongs to app shop-api');
    expect(await shopApi()).toEqual(before);
    expect((await shopState()).lock).toBeNull();
  });

  it('the action on deletion of branch api-staging in shop: refused naming the owner, shop-api unchanged', async () => {
    const before = await shopApi();
    const run = await action({
      eventName: 'delete',
      payload: deletePayload(example('delete'), 'api-staging'),
    });
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(1);
    expect(run.outputs.environment).toBe('api-staging');
    expect(run.stdout).toMatch(/::error.*refusing to remove shop\/api-staging/);
    expect(run.stdout).toContain(OWNER);
    expect(await shopApi()).toEqual(before);
  });

  it('a leftover of shop in state: status names the owner, the sweep clears only shop’s own records', async () => {
    // What a `toss remove api-staging` of shop that died after freeing its names in the registry,
    // but before updating state, leaves behind (a preview of pull request 7), once shop-api then
    // claimed staging: state still lists it, with ports shop-api may now use.
    const apiPorts = (await shopApi()).registry.environments.staging.ports;
    await inHost(host, [
      'python3',
      '-c',
      `import json
p = '/srv/shop/.toss/state.json'
s = json.load(open(p))
e = dict(s['environments']['production'])
e.update(ports=${JSON.stringify(apiPorts)}, livePort=${apiPorts[0]}, pr=7)
s['environments']['api-staging'] = e
json.dump(s, open(p, 'w'))`,
    ]);
    const before = await shopApi();

    const status = await toss(host, ['status', '--json'], { cwd: shop.dir });
    expect(status.code, status.output).toBe(0);
    const warnings = (JSON.parse(status.stdout).warnings as Array<Record<string, unknown>>).filter(
      (w) => w.kind !== 'secrets-empty',
    );
    expect(warnings).toEqual([
      expect.objectContaining({
        kind: 'owned-elsewhere',
        environment: 'api-staging',
        message: expect.stringContaining(OWNER),
        fix: 'toss remove api-staging',
      }),
    ]);

    fake.addPull({
      number: 7,
      state: 'closed',
      headSha: 'ec26c3e57ca3a959ca5aad62de7213c562f8c821',
      headRef: 'api-staging',
    });
    const run = await action({
      eventName: 'schedule',
      payload: schedulePayload(),
      inputs: { command: 'sweep' },
    });
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('pull request #7 is closed, removing api-staging');
    expect(run.stdout).toContain(`left alone: ${OWNER}`);
    expect((await shopState()).environments['api-staging']).toBeUndefined();
    expect(await shopApi()).toEqual(before);
  });

  it('pruning shop’s releases removes only shop’s', async () => {
    const before = await shopApi();
    for (const text of ['Shop 2\n', 'Shop 3\n', 'Shop 4\n']) {
      await shop.commit('message.txt', text);
      const run = await toss(host, ['deploy', 'production'], { cwd: shop.dir });
      expect(run.code, run.output).toBe(0);
    }
    const releases = (await inHost(host, ['ls', '-1', '/srv/shop/production/releases']))
      .split('\n')
      .filter((l) => /^\d{8}T/.test(l));
    // keepReleases 2: four deploys, two kept, so the pruning did run.
    expect(releases).toHaveLength(2);
    expect((await shopState()).environments.production!.releases).toEqual(releases);
    expect(await fetchSite(host, 'shop.test')).toEqual({ status: 200, body: 'Shop 4\n' });
    expect(await shopApi()).toEqual(before);
  });
});

describe('a branch named like an environment deployed by hand', () => {
  const preview = hashedPreviewName('staging');

  it('gets its own preview; its deletion removes that preview only', async () => {
    // The hardest case: deployed by hand from a local branch that is called staging too.
    execFileSync('git', ['checkout', '-q', '-b', 'staging'], { cwd: shop.dir });
    await shop.commit('message.txt', 'Hand-made staging\n');
    const hand = await toss(host, ['deploy', 'staging'], { cwd: shop.dir });
    expect(hand.code, hand.output).toBe(0);
    expect((await shopState()).environments.staging).toMatchObject({
      branch: 'staging',
      branchPreview: false,
    });
    const apiBefore = await shopApi();

    await shop.commit('message.txt', 'Branch staging\n');
    const push = branchPush(branchPushExample(), 'staging');
    const pushed = await action({ eventName: 'push', payload: push, ref: 'refs/heads/staging' });
    expect(pushed.code, `${pushed.stdout}\n${pushed.stderr}`).toBe(0);
    expect(pushed.outputs).toMatchObject({ action: 'deployed', environment: preview });
    expect(pushed.stdout).toContain(`staging is not this branch's preview`);
    expect(await fetchSite(host, `${preview}.preview.shop.test`)).toEqual({
      status: 200,
      body: 'Branch staging\n',
    });
    expect(await fetchSite(host, 'staging.preview.shop.test')).toEqual({
      status: 200,
      body: 'Hand-made staging\n',
    });
    const state = await shopState();
    expect(state.environments[preview]).toMatchObject({ branch: 'staging', branchPreview: true });
    expect(state.environments.staging?.branchPreview).toBe(false);

    // A second push finds the same preview.
    const again = await action({ eventName: 'push', payload: push, ref: 'refs/heads/staging' });
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect(again.outputs.environment).toBe(preview);

    const deleted = await action({
      eventName: 'delete',
      payload: deletePayload(example('delete'), 'staging'),
    });
    expect(deleted.code, `${deleted.stdout}\n${deleted.stderr}`).toBe(0);
    expect(deleted.outputs).toMatchObject({ action: 'removed', environment: preview });
    const after = await shopState();
    expect(after.environments[preview]).toBeUndefined();
    expect(after.environments.staging?.branchPreview).toBe(false);
    expect(await fetchSite(host, 'staging.preview.shop.test')).toEqual({
      status: 200,
      body: 'Hand-made staging\n',
    });
    expect((await host.exec(['test', '-e', `/srv/shop/${preview}`])).code).not.toBe(0);
    expect(await shopApi()).toEqual(apiBefore);
  });
});
