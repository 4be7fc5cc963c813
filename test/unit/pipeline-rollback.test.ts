/**
 * rollback() against the recording fake server: the previous release starts on the idle port,
 * passes its health check, gets the traffic and becomes current; one that fails its health check
 * never gets traffic and the live release stays.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { deploy } from '../../src/pipeline/deploy.js';
import { type RollbackResult, rollback } from '../../src/pipeline/rollback.js';
import { StepError } from '../../src/pipeline/step.js';
import { ACTOR, eventLog, FakeHost, LOGIN, testConfig } from '../support/fake-server.js';

const SOURCE = mkdtempSync(join(tmpdir(), 'toss-pipeline-src-'));
const SITE_FILE = '/etc/caddy/toss/shop-production.caddy';
const DB_SECRET = 'rollback-db-secret';

let host: FakeHost;
/** the first release (port 3000), then the live one (port 3001) */
let older: string;
let live: string;

function common() {
  return {
    config: testConfig(),
    login: LOGIN,
    environment: 'production',
    actor: ACTOR,
    lockWaitSeconds: 0,
    connect: host.connect,
  };
}

async function deployAt(time: string, commit: string): Promise<string> {
  // Release ids carry the time to the second: a minute apart, they sort in deploy order.
  vi.setSystemTime(new Date(time));
  // A new commit is a new tree (the same one again would be a no-change deploy).
  writeFileSync(join(SOURCE, 'commit'), `${commit}\n`);
  const result = await deploy(
    {
      ...common(),
      sourceDir: SOURCE,
      origin: 'https://github.com/octo/shop',
      commit,
      overrides: [],
    },
    eventLog().sink,
  );
  return result.release;
}

/** Production deployed twice, a minute apart; the log starts empty. */
async function twoReleases() {
  host = new FakeHost();
  host.files.set('/srv/shop/.toss/secrets/production.env', `DB_PASSWORD=${DB_SECRET}\n`);
  older = await deployAt('2026-03-01T10:00:00Z', '1'.repeat(40));
  live = await deployAt('2026-03-01T10:01:00Z', '2'.repeat(40));
  vi.setSystemTime(new Date('2026-03-01T10:02:00Z'));
  host.reset();
}

afterEach(() => {
  expect(host.unknown).toEqual([]);
  expect(host.closed).toBe(host.connections);
});

describe('rollback to the previous release', () => {
  let result: RollbackResult;
  let log: ReturnType<typeof eventLog>;

  beforeAll(async () => {
    await twoReleases();
    log = eventLog();
    result = await rollback(common(), log.sink);
  });

  afterAll(() => {
    vi.useRealTimers();
  });

  it('brings the release before the live one back on the idle port', () => {
    expect(older < live).toBe(true);
    expect(result).toEqual({
      environment: 'production',
      release: older,
      from: live,
      url: 'https://shop.example.com/',
      port: 3000,
    });
  });

  it('starts it, checks its health, routes, switches, in this order', () => {
    // The unit template is the one installed: written again at most unchanged, without a reload.
    const unitLabels = ['write unit', 'install unit', 'daemon reload'];
    for (const command of host.ran().filter((c) => unitLabels.includes(c.label))) {
      expect(command.label).not.toBe('daemon reload');
      expect(command.stdin).toBe(
        host.files.get('/etc/systemd/system/toss-shop-production@.service'),
      );
    }
    expect(host.labels().filter((label) => !unitLabels.includes(label))).toEqual([
      'list releases',
      // A long step of an earlier run must not stay behind the instance.
      'stop run unit',
      'point slot',
      'port guard',
      'start instance',
      'health check',
      'install site',
      'switch current',
      'retire old instance',
    ]);
    expect(host.find('stop run unit')[0]!.kind).toBe('cleanup');
    expect(log.steps()).toEqual(
      ['connect', 'lock', 'start', 'health', 'route', 'switch'].flatMap((step) => [
        `start ${step}`,
        `done ${step}`,
      ]),
    );
  });

  it('names the release, its port and the one it retires', () => {
    const slot = host.find('point slot')[0]!.argv;
    expect(slot).toContain(`../releases/${older}`);
    expect(slot).toContain('/srv/shop/production/slots/3000');
    expect(host.find('start instance')[0]!.argv).toContain('toss-shop-production@3000.service');
    expect(host.find('health check')[0]!.argv.join(' ')).toContain('@3000.service');
    expect(host.find('install site')[0]!.stdin).toContain('reverse_proxy 127.0.0.1:3000');
    expect(host.find('switch current')[0]!.argv).toContain(`releases/${older}`);
    const retire = host.find('retire old instance')[0]!.argv;
    // The new instance linked for boot, the old one retired.
    expect(retire).toContain(
      '/etc/systemd/system/multi-user.target.wants/toss-shop-production@3000.service',
    );
    expect(retire).toContain('toss-shop-production@3001.service');
    // The release's own env file is read to mask its values.
    const read = host.calls.find((c) => c.kind === 'read')!;
    expect(read.paths).toContain(`/srv/shop/production/env/${older}.env`);
    expect(log.events).toContainEqual({
      type: 'secrets',
      values: expect.arrayContaining([DB_SECRET]),
    });
  });

  it('records it once switched, then frees the lock', () => {
    const writes = host.calls.filter((c) => c.kind === 'state' && c.wrote);
    expect(writes[0]!.lockAfter).toMatch(/^[0-9a-f]{32}$/);
    expect(writes[0]!.stateAfter!.environments.production!.release).toBe(live);
    const recorded = writes.find((c) => c.stateAfter!.environments.production!.release === older)!;
    const switched = host.calls.findIndex((c) =>
      c.commands.some((x) => x.label === 'retire old instance'),
    );
    expect(host.calls.indexOf(recorded)).toBeGreaterThan(switched);
    expect(writes.at(-1)!.lockAfter).toBeNull();
    expect(host.calls.at(-1)).toBe(writes.at(-1));
    expect(host.state('shop')!.environments.production!).toMatchObject({
      release: older,
      previousRelease: live,
      livePort: 3000,
      commit: '1'.repeat(40),
    });
    expect(host.disk('shop', 'production')!.links.get('current')).toBe(older);
    expect([...host.running]).toEqual(['toss-shop-production@3000.service']);
    expect(host.files.get(SITE_FILE)).toContain('reverse_proxy 127.0.0.1:3000');
  });
});

describe('rollback', () => {
  beforeEach(twoReleases);

  afterEach(() => {
    vi.useRealTimers();
  });

  it('a release failing its health check never gets traffic: the live one stays', async () => {
    const site = host.files.get(SITE_FILE);
    host.failHealthCheck();
    const log = eventLog();

    const error = await rollback(common(), log.sink).then(
      () => undefined,
      (e: unknown) => e as StepError,
    );
    expect(error).toBeInstanceOf(StepError);
    expect(error!.step).toBe('health');
    expect(error!.message).toContain(
      `release ${older} did not pass its health check; it never received traffic and ${live} stays live`,
    );

    // The instance it started stops; nothing is routed, switched or recorded.
    expect(host.labelsAfter('health check')).toEqual(['journal', 'stop instance']);
    expect(host.find('stop instance')[0]!.argv).toContain('toss-shop-production@3000.service');
    for (const label of ['install site', 'switch current', 'retire old instance']) {
      expect(host.find(label), label).toEqual([]);
    }
    const production = host.state('shop')!.environments.production!;
    expect(production).toMatchObject({ release: live, previousRelease: older, livePort: 3001 });
    expect(host.disk('shop', 'production')!.links.get('current')).toBe(live);
    expect([...host.running]).toEqual(['toss-shop-production@3001.service']);
    expect(host.files.get(SITE_FILE)).toBe(site);
    expect(host.lockHolder('shop')).toBeNull();
    expect(log.steps()).toContain('fail health');
    expect(log.steps()).not.toContain('start route');
  });
});
