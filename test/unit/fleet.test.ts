/**
 * Production on several servers, the pure parts: the rollout's order (batches, the barrier
 * before the switch, the first server's lock around the others'), who may be skipped, the drift
 * `status` reports, and the Caddy sites of a front and its web servers. The e2e suite
 * (multi-server.test.ts) proves it on four real hosts.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { TossError } from '../../src/errors.js';
import {
  fleetDrift,
  fleetOf,
  membersToDeploy,
  Rollout,
  RolloutStopped,
  siteOf,
} from '../../src/pipeline/fleet.js';
import { buildPrivateSite, buildSiteFile } from '../../src/server/caddy-site.js';
import { envPaths } from '../../src/server/paths.js';
import { LOGIN } from '../support/fake-server.js';

const tick = () => new Promise((r) => setTimeout(r, 0));

/** Whether `promise` settled within a few ticks: 'resolved', 'rejected' or 'pending'. */
async function stateOf(promise: Promise<unknown>): Promise<string> {
  let state = 'pending';
  promise.then(
    () => {
      state = 'resolved';
    },
    () => {
      state = 'rejected';
    },
  );
  for (let i = 0; i < 5; i++) await tick();
  return state;
}

describe('the rollout', () => {
  it('routes a batch only once the one before it is routed, and switches none until all are', async () => {
    const rollout = new Rollout(['a', 'b', 'c'], 1);
    await rollout.turn(0);
    const second = rollout.turn(1);
    const third = rollout.turn(2);
    expect(await stateOf(second)).toBe('pending');
    const firstRouted = rollout.routed(0);
    expect(await stateOf(second)).toBe('resolved');
    expect(await stateOf(third)).toBe('pending');
    // Routed, but held: no server switches (retires its old instance) before every one is routed.
    expect(await stateOf(firstRouted)).toBe('pending');
    const secondRouted = rollout.routed(1);
    expect(await stateOf(third)).toBe('resolved');
    const thirdRouted = rollout.routed(2);
    for (const p of [firstRouted, secondRouted, thirdRouted]) {
      expect(await stateOf(p)).toBe('resolved');
    }
  });

  it('runs a batch of two side by side', async () => {
    const rollout = new Rollout(['a', 'b', 'c', 'd'], 2);
    expect(await stateOf(rollout.turn(0))).toBe('resolved');
    expect(await stateOf(rollout.turn(1))).toBe('resolved');
    const next = rollout.turn(2);
    void rollout.routed(0).catch(() => {});
    expect(await stateOf(next)).toBe('pending');
    void rollout.routed(1).catch(() => {});
    expect(await stateOf(next)).toBe('resolved');
  });

  it('stops every waiting server once one fails, naming it', async () => {
    const rollout = new Rollout(['a', 'b', 'c'], 1);
    const routed = rollout.routed(0);
    const waiting = rollout.turn(2);
    rollout.fail(1, new TossError('health check failed'));
    await expect(routed).rejects.toThrow(RolloutStopped);
    await expect(routed).rejects.toThrow('stopped: b failed');
    await expect(waiting).rejects.toThrow(RolloutStopped);
    // The first failure is the one reported.
    rollout.fail(2, new TossError('later'));
    expect(rollout.failed?.index).toBe(1);
  });

  it("takes the other servers' locks only after the first one's, and releases the first last", async () => {
    const rollout = new Rollout(['a', 'b', 'c'], 1);
    const other = rollout.order(1).beforeLock();
    expect(await stateOf(other)).toBe('pending');
    rollout.order(0).locked();
    expect(await stateOf(other)).toBe('resolved');
    const release = rollout.order(0).releaseAfter();
    rollout.done(1);
    expect(await stateOf(release)).toBe('pending');
    rollout.done(2);
    expect(await stateOf(release)).toBe('resolved');
  });

  it('refuses the other servers their lock when the first one could not take it', async () => {
    const rollout = new Rollout(['a', 'b'], 1);
    const other = rollout.order(1).beforeLock();
    rollout.fail(0, new TossError('locked by someone else'));
    await expect(other).rejects.toThrow('stopped: a failed');
  });
});

const raw = {
  app: 'shop',
  server: 'root@web1',
  startCommand: 'node server.js',
  tls: 'internal',
  healthCheck: { path: '/up' },
  servers: [
    { server: 'root@web2', private: '10.0.0.3' },
    { server: 'root@jobs', role: 'worker' },
  ],
  front: { private: '10.0.0.2' },
  worker: { startCommand: 'node worker.js' },
};
const config = parseConfig(raw);

describe('the members', () => {
  const members = fleetOf(config, LOGIN, [
    { ...LOGIN, host: 'web2' },
    { ...LOGIN, host: 'jobs' },
  ]);

  it('are the first server, then the others in order, with their roles', () => {
    expect(members.map((m) => [m.name, m.role, m.private])).toEqual([
      ['root@web1', 'web', '10.0.0.2'],
      ['root@web2', 'web', '10.0.0.3'],
      ['root@jobs', 'worker', undefined],
    ]);
  });

  it('leave out a skipped server, never the first, never one toss.json does not name', () => {
    expect(membersToDeploy(members, ['root@jobs']).map((m) => m.name)).toEqual([
      'root@web1',
      'root@web2',
    ]);
    expect(() => membersToDeploy(members, ['root@web1'])).toThrow(
      /first server holds the app's lock/,
    );
    expect(() => membersToDeploy(members, ['root@web9'])).toThrow(/not one of toss.json's servers/);
  });
});

describe('drift across servers', () => {
  it('names each server on another release, with none, or unreachable, and the fix', () => {
    const warnings = fleetDrift('R2', [
      { name: 'root@web2', release: 'R2' },
      { name: 'root@web3', release: 'R1' },
      { name: 'root@web4', release: null },
      { name: 'root@web5', release: undefined, error: 'connect timed out' },
    ]);
    expect(warnings.map((w) => [w.kind, w.environment, w.fix])).toEqual([
      ['server-drift', 'production', 'toss deploy production'],
      ['server-drift', 'production', 'toss deploy production'],
      ['server-drift', 'production', 'bring root@web5 back, then toss deploy production'],
    ]);
    expect(warnings[0]!.message).toContain(
      'root@web3 runs release R1, but the first server runs R2',
    );
    expect(warnings[1]!.message).toContain('root@web4 runs no release');
    expect(warnings[2]!.message).toContain('connect timed out');
  });
});

describe('the sites', () => {
  const env = envPaths('shop', 'production');
  const publicSite = (port: number) => `public ${port}`;
  const members = fleetOf(config, LOGIN, [
    { ...LOGIN, host: 'web2' },
    { ...LOGIN, host: 'jobs' },
  ]);
  const upstreams = ['10.0.0.2:2080', '10.0.0.3:2080'];
  const name = 'shop.example.com';

  it('give a web server a plain-HTTP site bound to its private address, for any Host', () => {
    const site = siteOf(config, env, members[1]!, false, upstreams, name)!(3001, publicSite, false);
    expect(site).toContain('http://:2080 {');
    expect(site).toContain('\tbind 10.0.0.3');
    expect(site).toContain('reverse_proxy 127.0.0.1:3001 {');
    expect(site).not.toContain(name);
  });

  it('give the first server its own site and the balancing one for the public name', () => {
    const site = siteOf(config, env, members[0]!, true, upstreams, name)!(3000, publicSite, false);
    expect(site).toContain('\tbind 10.0.0.2');
    expect(site).toContain(`${name} {`);
    expect(site).toContain('reverse_proxy 10.0.0.2:2080 10.0.0.3:2080 {');
    expect(site).toContain('health_uri /up');
    expect(site).toContain('lb_try_duration 5s');
  });

  it("carry the previews' wildcard certificate on the first server's public site", () => {
    const wildcard = parseConfig({
      ...raw,
      tls: 'auto',
      domain: 'shop.example.com',
      previews: { tls: 'wildcard', dns: 'cloudflare {env.CF_API_TOKEN}' },
    });
    const first = siteOf(wildcard, env, members[0]!, true, upstreams, name)!(
      3000,
      publicSite,
      false,
    );
    expect(first).toContain('\n*.preview.shop.example.com {\n\ttls {\n\t\tdns cloudflare');
    const other = siteOf(wildcard, env, members[1]!, false, upstreams, name)!(
      3001,
      publicSite,
      false,
    );
    expect(other).not.toContain('*.preview');
  });

  it("route to a sleeping production's wake socket", () => {
    const site = siteOf(config, env, members[1]!, false, upstreams, name)!(3001, publicSite, true);
    expect(site).toContain('reverse_proxy unix//run/toss-wake/3001.sock {');
  });

  it('give a worker none', () => {
    expect(siteOf(config, env, members[2]!, false, upstreams, name)).toBeUndefined();
  });

  it('without a front, give every web server the public site', () => {
    const { front: _front, ...noFront } = config;
    const site = siteOf(noFront, env, members[1]!, false, upstreams, name)!(
      3001,
      publicSite,
      false,
    );
    expect(site).toBe('public 3001');
  });

  it('refuse addresses and paths that are not plain tokens', () => {
    const target = { port: 3000 };
    expect(() =>
      buildPrivateSite({
        address: '10.0.0.2 {',
        port: 2080,
        target,
        app: 'shop',
        environment: 'production',
      }),
    ).toThrow(TossError);
    const balance = (upstreams: string[], healthUri = '/') =>
      buildSiteFile({ hostName: name, tls: 'internal', balance: { upstreams, healthUri } });
    expect(() => balance(['10.0.0.2:2080 }'])).toThrow(/refusing to balance/);
    expect(() => balance(['10.0.0.2:2080'], '/up {\n}')).toThrow(/refusing the health path/);
    expect(balance(['10.0.0.2:2080'])).toContain('reverse_proxy 10.0.0.2:2080 {');
  });
});
