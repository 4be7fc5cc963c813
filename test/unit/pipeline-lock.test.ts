/**
 * The app's lock as deploys meet it on the fake server: another run's fresh lock refuses a deploy
 * at once, a stale one is broken with a warning and its run unit stopped, production preempts a
 * preview's build, and a preview whose build production stopped says so.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockError } from '../../src/errors.js';
import { deploy } from '../../src/pipeline/deploy.js';
import type { DeployRequest } from '../../src/pipeline/request.js';
import { StepError } from '../../src/pipeline/step.js';
import { ACTOR, eventLog, FakeHost, LOGIN, testConfig } from '../support/fake-server.js';

const SOURCE = mkdtempSync(join(tmpdir(), 'toss-pipeline-src-'));
const MINUTE = 60_000;

let host: FakeHost;

/**
 * A deploy of `commit`: the tree holds a file that says which, so a new commit is a change (the
 * same one again is a no-change deploy, see fingerprint.ts).
 */
function request(fields: Partial<DeployRequest> = {}): DeployRequest {
  const req: DeployRequest = {
    config: testConfig(),
    login: LOGIN,
    environment: 'production',
    actor: ACTOR,
    lockWaitSeconds: 0,
    connect: host.connect,
    sourceDir: SOURCE,
    origin: 'https://github.com/octo/shop',
    commit: 'd'.repeat(40),
    overrides: [],
    ...fields,
  };
  writeFileSync(join(SOURCE, 'commit'), `${req.commit}\n`);
  return req;
}

async function failure(promise: Promise<unknown>): Promise<StepError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepError);
  return error as StepError;
}

beforeEach(async () => {
  host = new FakeHost();
  await deploy(request(), eventLog().sink);
  host.reset();
});

afterEach(() => {
  expect(host.unknown).toEqual([]);
  expect(host.closed).toBe(host.connections);
});

describe('the lock', () => {
  it("another run's fresh lock: LockError at once, nothing guarded runs, the early upload goes", async () => {
    const theirs = host.takeLock('shop', { environment: 'production', by: 'mallory' });
    const log = eventLog();

    const error = await failure(deploy(request(), log.sink));
    expect(error.step).toBe('lock');
    expect(error.cause).toBeInstanceOf(LockError);
    expect(error.message).toMatch(
      /^another deploy holds the lock: mallory on other-runner \(pid 4242\), deploying production, started \d+ s ago/,
    );
    // No wait was asked for, so none is said.
    expect(error.message).not.toContain('waited');

    // The copy uploaded alongside the lock attempt is removed; nothing else touches the server.
    // The reads that compare with the live release see the lock held, and leave it to the lock.
    // (A first upload's directory is made ready beside the reads, before they say whether the
    // environment is new.)
    expect(host.trace()).toEqual([
      'prepare incoming',
      'state read',
      'read files',
      'upload',
      'state update',
      'remove staging',
    ]);
    expect(host.find('remove staging')[0]!.kind).toBe('root');
    expect(host.disk('shop', 'production')!.staging).toEqual(new Set());
    expect(host.lockHolder('shop')).toEqual(theirs);
    expect(log.steps()).toEqual(['start connect', 'done connect', 'start lock', 'fail lock']);
  });

  it('a stale lock (no heartbeat for 10 minutes) is broken with a warning; its run unit stops', async () => {
    host.takeLock('shop', {
      environment: 'production',
      by: 'bob',
      at: new Date(Date.now() - 10 * MINUTE),
    });
    const log = eventLog();

    const result = await deploy(request(), log.sink);
    expect(result.environment).toBe('production');
    expect(log.warnings()).toEqual([
      expect.stringMatching(
        /^breaking a stale lock \(last heartbeat 10 min( \d+ s)? ago\): bob on other-runner \(pid 4242\), deploying production/,
      ),
    ]);
    // Right after the lock is taken, before anything else: the old holder's long step stops.
    expect(host.trace().slice(3, 6)).toEqual(['upload', 'state update (wrote)', 'stop run unit']);
    const stop = host.find('stop run unit')[0]!;
    expect(stop.kind).toBe('root');
    expect(stop.argv).toContain('toss-run-shop-production.service');
    expect(host.lockHolder('shop')).toBeNull();
    expect(host.state('shop')!.environments.production!.release).toBe(result.release);
  });

  it("production preempts a preview's build: the preview's run unit stops, production deploys", async () => {
    host.takeLock('shop', { environment: 'pr-3', by: 'carol', preemptible: true });
    const log = eventLog();

    const result = await deploy(request(), log.sink);
    expect(result.environment).toBe('production');
    expect(log.warnings()).toEqual([
      expect.stringContaining(
        "stopping pr-3's build to deploy production first (deploy pr-3 again afterwards): carol on other-runner",
      ),
    ]);
    expect(host.trace().slice(3, 6)).toEqual(['upload', 'state update (wrote)', 'stop run unit']);
    expect(host.find('stop run unit')[0]!.argv).toContain('toss-run-shop-pr-3.service');
    expect(host.lockHolder('shop')).toBeNull();
  });

  it("a preview's lock yields to production until its build is done, then no more", async () => {
    const result = await deploy(request({ environment: 'pr-4', pr: 4 }), eventLog().sink);
    const writes = host.calls.filter((c) => c.kind === 'state' && c.wrote);
    // Taken yielding; after the build (and before anything starts) it stops yielding.
    expect(writes[0]!.stateAfter!.lock).toMatchObject({ environment: 'pr-4', preemptible: true });
    const unyielding = writes[1]!;
    expect(unyielding.stateAfter!.lock?.token).toBe(writes[0]!.lockAfter);
    expect(unyielding.stateAfter!.lock?.preemptible).toBeUndefined();
    const at = host.calls.indexOf(unyielding);
    const lastBuild = host.calls.findLastIndex((c) => c.kind === 'start');
    const seal = host.calls.findIndex((c) => c.commands.some((x) => x.label === 'seal release'));
    expect(at).toBeGreaterThan(lastBuild);
    expect(at).toBeLessThan(seal);
    expect(host.state('shop')!.environments['pr-4']!.release).toBe(result.release);
  });

  it('a preview whose build production stopped says so; nothing of it runs afterwards', async () => {
    host.breakLockBefore('build', 'shop', { environment: 'production', by: 'dave' });
    const log = eventLog();

    const error = await failure(deploy(request({ environment: 'pr-4', pr: 4 }), log.sink));
    expect(error.cause).toBeInstanceOf(LockError);
    expect(error.message).toContain(
      "a production deploy took the lock and stopped pr-4's build; nothing of pr-4 changed",
    );
    // The build was refused, and so was the cleanup: the lock is production's now.
    expect(host.labelsAfter('open release to app')).toEqual([]);
    expect(host.calls.filter((c) => c.refused).map((c) => c.kind)).toEqual(['start', 'cleanup']);
    expect(host.lockHolder('shop')?.by).toBe('dave');
    expect(host.state('shop')!.environments['pr-4']).toBeUndefined();
    expect([...host.running]).toEqual(['toss-shop-production@3000.service']);
  });
});
