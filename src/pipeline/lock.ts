import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { PRODUCTION } from '../config/env-name.js';
import {
  createLock,
  decideAcquire,
  HEARTBEAT_INTERVAL_MS,
  heartbeat,
  isOwnLock,
  type Lock,
  lockError,
  newLockToken,
} from '../server/lock.js';
import { envPaths } from '../server/paths.js';
import { PREVIEW_HEALTH_TIMEOUT } from '../server/policy.js';
import { clearLock, emptyState, type State, setLock } from '../server/state.js';
import { stopRunUnitArgv } from '../server/systemctl.js';
import type { EventSink } from './events.js';
import { machineId } from './machine-id.js';
import type { Actor, TargetRequest } from './request.js';
import type { Server } from './server.js';
import { step } from './step.js';

const POLL_MS = 2_000;
/**
 * How long a production deploy waits for a preview that holds the lock past its build: start,
 * health check (a preview's is at most PREVIEW_HEALTH_TIMEOUT, see policy.ts) and route.
 */
export const PREVIEW_HOLD_SECONDS = PREVIEW_HEALTH_TIMEOUT + 30;

export interface LockRequest {
  environment: string;
  actor: Actor;
  lockWaitSeconds: number;
  /** reuse a token (the action's post step); a fresh one otherwise */
  token?: string | undefined;
  /** recorded when this creates state.json (first deploy) */
  origin?: string | undefined;
  onLockAcquired?: ((token: string) => void) | undefined;
  onLockReleased?: ((token: string) => void) | undefined;
  /** checks state before the lock is taken (origin); throwing leaves everything untouched */
  verify?: ((state: State) => void) | undefined;
  /** a preview deploy: production may take the lock until the build is done (lock.ts) */
  preemptible?: boolean | undefined;
}

export interface HeldLock {
  token: string;
  /** state.json as written when the lock was taken */
  state: State;
  /**
   * The run's final record and the lock's release in one write, while this run still holds the
   * lock; throws (LockError when the lock was lost) and leaves the lock to `release` then.
   */
  finish(last: (state: State) => State): Promise<State>;
  /**
   * Releases the lock if this run still holds it, applying `last` to state in the same write
   * (one round trip for the run's final record); never throws. Nothing to do after `finish`.
   */
  release(last?: (state: State) => State): Promise<void>;
}

type Outcome =
  | { kind: 'held' }
  | { kind: 'broke'; lock: Lock; reason: string }
  | { kind: 'wait'; lock: Lock };

export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the app's lock (SPEC "lock"): free → take; ours → re-enter; stale or a dead process on
 * this machine → break and say so; otherwise wait up to lockWaitSeconds, then LockError.
 */
export async function acquireLock(
  session: Server,
  request: LockRequest,
  sink: EventSink,
): Promise<HeldLock> {
  const token = request.token ?? newLockToken();
  const host = hostname();
  const machine = machineId();
  const started = Date.now();
  let announced = false;
  let held: State;
  for (;;) {
    let outcome = { kind: 'held' } as Outcome;
    held = await session.updateState((current: State | undefined) => {
      const existing = current ?? emptyState(session.app, request.origin);
      request.verify?.(existing);
      // A state made by an older toss (or by hand) learns its origin from the first deploy.
      const state =
        existing.origin === undefined && request.origin !== undefined
          ? { ...existing, origin: request.origin }
          : existing;
      const now = new Date();
      const decision = decideAcquire(state.lock, {
        token,
        environment: request.environment,
        machine,
        now,
        isPidAlive,
      });
      if (decision === 're-enter') {
        outcome = { kind: 'held' };
        return setLock(state, heartbeat(state.lock!, now));
      }
      if (typeof decision === 'object' && 'wait' in decision) {
        outcome = { kind: 'wait', lock: state.lock! };
        return state;
      }
      outcome =
        decision === 'take'
          ? { kind: 'held' }
          : { kind: 'broke', lock: state.lock!, reason: decision.break };
      return setLock(
        state,
        createLock({
          environment: request.environment,
          token,
          host,
          machine,
          pid: process.pid,
          by: request.actor.by,
          runUrl: request.actor.runUrl,
          preemptible: request.preemptible,
          now,
        }),
      );
    });
    const result = outcome as Outcome;
    if (result.kind === 'wait') {
      const waited = (Date.now() - started) / 1000;
      // Production waits out a preview's last steps (bounded: see PREVIEW_HOLD_SECONDS) rather
      // than fail because of it; a preview's build it does not wait for (it stops it).
      const limit =
        request.environment === PRODUCTION && result.lock.environment !== PRODUCTION
          ? Math.max(request.lockWaitSeconds, PREVIEW_HOLD_SECONDS)
          : request.lockWaitSeconds;
      if (waited >= limit) {
        // Without --lock-wait nothing was waited for, however long the round trips took.
        throw lockError(result.lock, new Date(), limit > 0 ? Math.floor(waited) : 0);
      }
      if (!announced) {
        sink({
          type: 'notice',
          message: `waiting up to ${limit} s for the lock: ${describe(result.lock)}`,
        });
        announced = true;
      }
      await sleep(Math.min(POLL_MS, (limit - waited) * 1000 + 50));
      continue;
    }
    if (result.kind === 'broke') {
      sink({ type: 'warning', message: result.reason });
      // A long step of the broken holder must not keep running unmanaged.
      await session.root(stopRunUnitArgv(envPaths(session.app, result.lock.environment)), {
        allowFailure: true,
      });
    }
    break;
  }
  session.holdLock(token);
  request.onLockAcquired?.(token);
  const beat = startHeartbeat(session, sink);
  let released = false;
  const done = () => {
    released = true;
    session.dropLock();
    request.onLockReleased?.(token);
  };
  return {
    token,
    state: held,
    async finish(last) {
      beat.stop();
      const final = await session.updateStateAsHolder((state) => clearLock(last(state)));
      done();
      return final;
    },
    async release(last) {
      if (released) return;
      beat.stop();
      try {
        await session.updateState((state) =>
          state !== undefined && isOwnLock(state.lock, token)
            ? clearLock(last ? last(state) : state)
            : state!,
        );
        released = true;
        request.onLockReleased?.(token);
      } catch (error) {
        sink({
          type: 'warning',
          message: `could not release the lock: ${(error as Error).message} (run \`toss lock release\`)`,
        });
      }
      session.dropLock();
    },
  };
}

function describe(lock: Lock): string {
  return `${lock.by} on ${lock.host}, deploying ${lock.environment}${lock.runUrl ? `, run ${lock.runUrl}` : ''}`;
}

/** Refreshes heartbeatAt every 20 s while the run works; stops quietly once the lock is lost. */
function startHeartbeat(session: Server, sink: EventSink): { stop(): void } {
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped) return;
    session
      .updateStateAsHolder((state) => setLock(state, heartbeat(state.lock!, new Date())))
      .catch((error: Error) => {
        if (stopped) return;
        stopped = true;
        clearInterval(timer);
        sink({ type: 'warning', message: `lock heartbeat failed: ${error.message}` });
      });
  }, HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/**
 * The lock for a request from either door, as a timed `lock` step; a deploy adds its origin,
 * checked before the lock is taken.
 */
export function lockForRequest(
  session: Server,
  request: TargetRequest,
  environment: string,
  sink: EventSink,
  checks: Pick<LockRequest, 'origin' | 'verify' | 'preemptible'> = {},
): Promise<HeldLock> {
  return step(
    sink,
    'lock',
    () =>
      acquireLock(
        session,
        {
          environment,
          actor: request.actor,
          lockWaitSeconds: request.lockWaitSeconds,
          token: request.lockToken,
          onLockAcquired: request.onLockAcquired,
          ...checks,
        },
        sink,
      ),
    () => (checks.verify ? 'origin verified' : undefined),
  );
}
