/**
 * remove() against the recording fake server: a preview's teardown in its order (its site and
 * its units side by side, then its directory, its names and its record), the refusal to remove
 * production without force, and nothing to remove.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deploy } from '../../src/pipeline/deploy.js';
import { remove } from '../../src/pipeline/remove.js';
import type { DeployRequest, RemoveRequest, RemoveResult } from '../../src/pipeline/request.js';
import { ACTOR, eventLog, FakeHost, LOGIN, testConfig } from '../support/fake-server.js';

const SOURCE = mkdtempSync(join(tmpdir(), 'toss-pipeline-src-'));
const PREVIEW_SITE = '/etc/caddy/toss/shop-pr-7.caddy';
const PRODUCTION_SITE = '/etc/caddy/toss/shop-production.caddy';

let host: FakeHost;

afterEach(() => {
  expect(host.unknown).toEqual([]);
  expect(host.closed).toBe(host.connections);
});

function common() {
  return {
    config: testConfig(),
    login: LOGIN,
    actor: ACTOR,
    lockWaitSeconds: 0,
    connect: host.connect,
  };
}

function deployTo(environment: string, fields: Partial<DeployRequest> = {}) {
  return deploy(
    {
      ...common(),
      environment,
      sourceDir: SOURCE,
      origin: 'https://github.com/octo/shop',
      commit: 'c'.repeat(40),
      overrides: [],
      ...fields,
    },
    eventLog().sink,
  );
}

function removeRequest(environment: string, fields: Partial<RemoveRequest> = {}): RemoveRequest {
  return { ...common(), environment, force: false, ...fields };
}

describe('removing a preview', () => {
  let result: RemoveResult;
  let log: ReturnType<typeof eventLog>;
  let productionSite: string | undefined;

  beforeAll(async () => {
    host = new FakeHost();
    await deployTo('production');
    await deployTo('pr-7', { pr: 7 });
    productionSite = host.files.get(PRODUCTION_SITE);
    expect(host.files.has(PREVIEW_SITE)).toBe(true);
    expect([...host.running].sort()).toEqual([
      'toss-shop-pr-7@3002.service',
      'toss-shop-production@3000.service',
    ]);
    host.reset();
    log = eventLog();
    result = await remove(removeRequest('pr-7'), log.sink);
  });

  it('site and units, then directory, names and record, under the lock', () => {
    expect(result).toEqual({ environment: 'pr-7', removed: true });
    expect(host.trace()).toEqual([
      'state read',
      // The lock.
      'state update (wrote)',
      'registry read',
      'read files',
      'test env dir',
      'list databases',
      // The site and the units, side by side.
      'remove site',
      'teardown units',
      'remove environment',
      'registry update (wrote)',
      // The record and the lock's release, in one write.
      'state update (wrote)',
    ]);
    expect(host.lockHolder('shop')).toBeNull();
    // The guarded commands ran as the lock's holder.
    for (const label of ['remove site', 'teardown units', 'remove environment']) {
      expect(host.find(label)[0]!.kind, label).toBe('guarded');
    }
    expect(log.steps()).toEqual([
      'start connect',
      'done connect',
      'start lock',
      'done lock',
      'start remove',
      'done remove',
    ]);
  });

  it("names the preview's own site, units, drains, slice and directories, nothing of production", () => {
    expect(host.find('remove site')[0]!.argv).toContain(PREVIEW_SITE);
    const teardown = host.find('teardown units')[0]!.argv;
    expect(teardown).toEqual(
      expect.arrayContaining([
        '/etc/systemd/system/toss-shop-pr-7@.service',
        'system-toss\\x2dshop\\x2dpr\\x2d7.slice',
        'toss-drain-shop-pr-7-3002.timer',
        'toss-drain-shop-pr-7-3002.service',
        'toss-drain-shop-pr-7-3003.timer',
        'toss-drain-shop-pr-7-3003.service',
        'toss-shop-pr-7@3002.service',
        'toss-shop-pr-7@3003.service',
        'toss-run-shop-pr-7.service',
      ]),
    );
    expect(host.find('remove environment')[0]!.argv).toEqual(
      expect.arrayContaining(['/srv/shop/pr-7', '/srv/shop/.toss/secrets/overrides/pr-7.env']),
    );
    for (const command of host.commands()) {
      expect(command.argv.join(' ')).not.toContain('production');
    }
  });

  it('leaves no site, unit, directory, name or record of it; production stays', () => {
    expect(host.files.has(PREVIEW_SITE)).toBe(false);
    expect(host.files.has('/etc/systemd/system/toss-shop-pr-7@.service')).toBe(false);
    expect(host.disk('shop', 'pr-7')).toBeUndefined();
    expect([...host.running]).toEqual(['toss-shop-production@3000.service']);
    expect(Object.keys(host.registry().apps.shop!.environments)).toEqual(['production']);
    const state = host.state('shop')!;
    expect(Object.keys(state.environments)).toEqual(['production']);
    expect(state.lock).toBeNull();
    expect(host.files.get(PRODUCTION_SITE)).toBe(productionSite);
    expect(host.disk('shop', 'production')).toBeDefined();
  });
});

describe('remove', () => {
  beforeEach(() => {
    host = new FakeHost();
  });

  it('refuses production without force, before connecting', async () => {
    await expect(remove(removeRequest('production'), eventLog().sink)).rejects.toThrow(
      'refusing to remove production without --force',
    );
    expect(host.connections).toBe(0);
    expect(host.calls).toEqual([]);
  });

  it('an app never deployed here: nothing to remove, no lock taken', async () => {
    const log = eventLog();
    const result = await remove(removeRequest('pr-3'), log.sink);
    expect(result).toEqual({ environment: 'pr-3', removed: false });
    expect(host.trace()).toEqual(['state read']);
    expect(log.notices()).toEqual(['shop was never deployed to this server: nothing to remove']);
  });

  it('an environment the app does not have: nothing removed, the lock released', async () => {
    await deployTo('production');
    host.reset();
    const log = eventLog();
    const result = await remove(removeRequest('pr-3'), log.sink);
    expect(result).toEqual({ environment: 'pr-3', removed: false });
    expect(host.trace()).toEqual([
      'state read',
      'state update (wrote)',
      'registry read',
      'read files',
      'test env dir',
      'list databases',
      'state update (wrote)',
    ]);
    expect(host.calls.some((c) => c.kind === 'guarded' || c.kind === 'batch')).toBe(false);
    expect(log.notices()).toEqual(['shop has no environment pr-3: nothing to remove']);
    expect(host.lockHolder('shop')).toBeNull();
  });
});
