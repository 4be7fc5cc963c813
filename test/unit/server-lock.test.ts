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
} from '../../src/server/lock.js';

const T0 = new Date('2026-11-27T22:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const MIN = 60_000;
const OURS = '0123456789abcdef0123456789abcdef';
const THEIRS = 'fedcba9876543210fedcba9876543210';

const held: Lock = createLock({
  environment: 'pr-42',
  token: THEIRS,
  host: 'runner-7',
  pid: 4242,
  by: 'bob',
  runUrl: 'https://github.com/o/r/actions/runs/1',
  now: T0,
});
const legacy: Lock = { ...held, heartbeatAt: undefined };
delete legacy.heartbeatAt;

describe('createLock', () => {
  it('stamps start and first heartbeat', () => {
    expect(held).toEqual({
      environment: 'pr-42',
      token: THEIRS,
      host: 'runner-7',
      pid: 4242,
      startedAt: '2026-11-27T22:00:00.000Z',
      heartbeatAt: '2026-11-27T22:00:00.000Z',
      by: 'bob',
      runUrl: 'https://github.com/o/r/actions/runs/1',
    });
    expect(heartbeat(held, at(20_000)).heartbeatAt).toBe('2026-11-27T22:00:20.000Z');
    expect(HEARTBEAT_INTERVAL_MS).toBe(20_000);
  });

  it('refuses a token that is not hex', () => {
    expect(() => createLock({ ...held, token: 'x y', now: T0 })).toThrow();
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

  it('sees a dead process only on its own host', () => {
    expect(isDeadProcessLock(held, 'runner-7', () => false)).toBe(true);
    expect(isDeadProcessLock(held, 'runner-7', () => true)).toBe(false);
    expect(isDeadProcessLock(held, 'laptop', () => false)).toBe(false);
  });
});

describe('decideAcquire', () => {
  const ctx = (over: Partial<Parameters<typeof decideAcquire>[1]> = {}) => ({
    token: OURS,
    host: 'laptop',
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
      'a dead process on this host',
      held,
      ctx({ host: 'runner-7', isPidAlive: (pid: number) => pid !== 4242 }),
      { break: `breaking a lock whose process 4242 on runner-7 is gone: ${holder}` },
    ],
    [
      'the same pid alive on another host',
      held,
      ctx({ host: 'laptop', isPidAlive: () => false }),
      { wait: holder },
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
