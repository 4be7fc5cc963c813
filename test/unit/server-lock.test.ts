import { describe, expect, it } from 'vitest';
import { LockError } from '../../src/errors.js';
import {
  createLock,
  decideAcquire,
  describeLock,
  HEARTBEAT_INTERVAL_MS,
  heartbeat,
  humanizeDuration,
  isDeadProcessLock,
  isLockStale,
  isOwnLock,
  type Lock,
  lockError,
  lockSchema,
  machineIdentity,
  withPreemptible,
} from '../../src/server/lock.js';

const T0 = new Date('2026-11-27T22:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const MIN = 60_000;
const OURS = '0123456789abcdef0123456789abcdef';
const THEIRS = 'fedcba9876543210fedcba9876543210';
/** Two machines both called runner-7 (two CI runners, two laptops). */
const MACHINE_A = machineIdentity({ machineId: '1'.repeat(32), bootId: 'boot-a' });
const MACHINE_B = machineIdentity({ machineId: '2'.repeat(32), bootId: 'boot-b' });

const held: Lock = createLock({
  environment: 'pr-42',
  token: THEIRS,
  host: 'runner-7',
  machine: MACHINE_A,
  pid: 4242,
  by: 'bob',
  runUrl: 'https://github.com/o/r/actions/runs/1',
  now: T0,
});
const legacy: Lock = { ...held, heartbeatAt: undefined };
delete legacy.heartbeatAt;
/** A lock written by a toss that did not record the machine. */
const { machine: _none, ...unmarked } = held;

describe('createLock', () => {
  it('stamps start and first heartbeat', () => {
    expect(held).toEqual({
      environment: 'pr-42',
      token: THEIRS,
      host: 'runner-7',
      machine: MACHINE_A,
      pid: 4242,
      startedAt: '2026-11-27T22:00:00.000Z',
      heartbeatAt: '2026-11-27T22:00:00.000Z',
      by: 'bob',
      runUrl: 'https://github.com/o/r/actions/runs/1',
    });
    expect(heartbeat(held, at(20_000)).heartbeatAt).toBe('2026-11-27T22:00:20.000Z');
    expect(HEARTBEAT_INTERVAL_MS).toBe(20_000);
  });

  it("marks a preview deploy's lock as yielding to production until its build is done", () => {
    const preview = createLock({ ...held, machine: MACHINE_A, preemptible: true, now: T0 });
    expect(preview.preemptible).toBe(true);
    expect(heartbeat(preview, at(20_000)).preemptible).toBe(true);
    expect(withPreemptible(preview, false)).not.toHaveProperty('preemptible');
    expect(createLock({ ...held, machine: MACHINE_A, now: T0 })).not.toHaveProperty('preemptible');
  });

  it('refuses a token that is not hex', () => {
    expect(() => createLock({ ...held, machine: MACHINE_A, token: 'x y', now: T0 })).toThrow();
  });

  it('reads a lock without a machine (an older toss) and refuses a malformed one', () => {
    expect(lockSchema.parse(unmarked)).toEqual(unmarked);
    expect(() => lockSchema.parse({ ...held, machine: 'runner-7' })).toThrow();
  });
});

describe('machineIdentity', () => {
  const facts = {
    machineId: '3d1219c7c4c5404aaa1f6d2a48adfda4',
    bootId: 'b1',
    pidNamespace: 'pid:[1]',
  };

  it('is 32 hex digits that do not give the machine-id away', () => {
    const id = machineIdentity(facts);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(id).not.toContain(facts.machineId.slice(0, 8));
    expect(machineIdentity(facts)).toBe(id);
  });

  it.each([
    ['another machine-id', { ...facts, machineId: '4d1219c7c4c5404aaa1f6d2a48adfda4' }],
    ['a cloned machine-id after another boot', { ...facts, bootId: 'b2' }],
    ['another pid namespace (a container)', { ...facts, pidNamespace: 'pid:[2]' }],
    ['no boot id', { machineId: facts.machineId, pidNamespace: facts.pidNamespace }],
  ])('differs with %s', (_name, other) => {
    expect(machineIdentity(other)).not.toBe(machineIdentity(facts));
  });
});

describe('lock rules', () => {
  it('knows its own lock', () => {
    expect(isOwnLock(held, THEIRS)).toBe(true);
    expect(isOwnLock(held, OURS)).toBe(false);
    expect(isOwnLock(null, OURS)).toBe(false);
  });

  it.each([
    ['fresh heartbeat', held, 2 * MIN, false],
    ['heartbeat just over 2 min old', held, 2 * MIN + 1000, true],
    ['refreshed heartbeat', heartbeat(held, at(10 * MIN)), 11 * MIN, false],
    ['no heartbeats, 29 min', legacy, 29 * MIN, false],
    ['no heartbeats, 31 min', legacy, 31 * MIN, true],
  ])('%s → stale %s', (_name, lock, after, stale) => {
    expect(isLockStale(lock, at(after))).toBe(stale);
  });

  it.each([
    ['its pid gone on this machine', held, MACHINE_A, false, true],
    ['its pid alive on this machine', held, MACHINE_A, true, false],
    ['same host name, another machine, pid gone here', held, MACHINE_B, false, false],
    ['an older toss’s lock, pid gone here', unmarked, MACHINE_A, false, false],
  ])('dead process: %s → %s', (_name, lock, machine, alive, dead) => {
    expect(isDeadProcessLock(lock, machine, () => alive)).toBe(dead);
  });
});

describe('decideAcquire', () => {
  const ctx = (over: Partial<Parameters<typeof decideAcquire>[1]> = {}) => ({
    token: OURS,
    machine: MACHINE_B,
    now: at(MIN),
    isPidAlive: () => true,
    ...over,
  });
  const holder =
    'bob on runner-7 (pid 4242), deploying pr-42, started 1 min ago, run https://github.com/o/r/actions/runs/1';

  it.each([
    ['no lock', null, ctx(), 'take'],
    ['our own lock', held, ctx({ token: THEIRS }), 're-enter'],
    ['a live holder', held, ctx(), { wait: holder }],
    [
      'a silent holder',
      held,
      ctx({ now: at(5 * MIN) }),
      {
        break:
          'breaking a stale lock (last heartbeat 5 min ago): bob on runner-7 (pid 4242), deploying pr-42, started 5 min ago, run https://github.com/o/r/actions/runs/1',
      },
    ],
    [
      'an old lock without heartbeats',
      legacy,
      ctx({ now: at(45 * MIN) }),
      {
        break:
          'breaking a stale lock (started 45 min ago): bob on runner-7 (pid 4242), deploying pr-42, started 45 min ago, run https://github.com/o/r/actions/runs/1',
      },
    ],
    [
      'a dead process on this machine',
      held,
      ctx({ machine: MACHINE_A, isPidAlive: (pid: number) => pid !== 4242 }),
      { break: `breaking a lock whose process 4242 on runner-7 is gone: ${holder}` },
    ],
    [
      'a preview building, production wants it',
      withPreemptible(held, true),
      ctx({ environment: 'production' }),
      {
        break: `stopping pr-42's build to deploy production first (deploy pr-42 again afterwards): ${holder}`,
      },
    ],
    [
      'a preview building, another preview wants it',
      withPreemptible(held, true),
      ctx({ environment: 'pr-7' }),
      { wait: holder },
    ],
    [
      'a preview past its build, production wants it',
      withPreemptible(withPreemptible(held, true), false),
      ctx({ environment: 'production' }),
      { wait: holder },
    ],
    [
      'a pid dead here of another machine with the same host name',
      held,
      ctx({ isPidAlive: () => false }),
      { wait: holder },
    ],
    [
      'a pid dead here of an older toss’s lock, same host name',
      unmarked,
      ctx({ machine: MACHINE_A, isPidAlive: () => false }),
      { wait: holder },
    ],
    [
      'an older toss’s lock gone silent',
      unmarked,
      ctx({ machine: MACHINE_A, isPidAlive: () => false, now: at(3 * MIN) }),
      {
        break:
          'breaking a stale lock (last heartbeat 3 min ago): bob on runner-7 (pid 4242), deploying pr-42, started 3 min ago, run https://github.com/o/r/actions/runs/1',
      },
    ],
  ])('%s', (_name, lock, context, decision) => {
    expect(decideAcquire(lock, context)).toEqual(decision);
  });
});

describe('LockError', () => {
  it('names holder, age and run', () => {
    const error = lockError(held, at(3 * MIN + 5000), 600);
    expect(error).toBeInstanceOf(LockError);
    expect(error.message).toBe(
      'another deploy holds the lock (waited 10 min): bob on runner-7 (pid 4242), deploying pr-42, started 3 min 5 s ago, run https://github.com/o/r/actions/runs/1',
    );
    expect(error.hint).toMatch(/lock release --force/);
    expect(lockError(legacy, at(0), 0).message).toMatch(/^another deploy holds the lock: /);
  });

  it('describes a lock without a run URL', () => {
    const { runUrl: _ignored, ...local } = held;
    expect(describeLock(local, at(30_000))).toBe(
      'bob on runner-7 (pid 4242), deploying pr-42, started 30 s ago',
    );
  });

  it.each([
    [0, '0 s'],
    [59_999, '59 s'],
    [60_000, '1 min'],
    [185_000, '3 min 5 s'],
    [3_600_000, '1 h'],
    [7_620_000, '2 h 7 min'],
    [86_400_000, '1 d'],
    [100_800_000, '1 d 4 h'],
    [-5, '0 s'],
  ])('humanizes %d ms as %s', (ms, text) => {
    expect(humanizeDuration(ms)).toBe(text);
  });
});
