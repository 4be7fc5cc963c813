import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProduction } from '../config/env-name.js';
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
import { openServer } from './session.js';
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
 * Takes the app's lock: free → take; ours → re-enter; stale or a dead process on this machine →
 * break and say so; otherwise wait up to lockWaitSeconds, then LockError.
 */
export async function acquireLock(
  session: Server,
  request: LockRequest,
  sink: EventSink,
): Promise<HeldLock> {
  const token = request.token ?? newLockToken();
  const started = Date.now();
  let announced = false;
  for (;;) {
    const { outcome, state } = await tryTake(session, request, token);
    if (outcome.kind === 'wait') {
      await waitTurn(request, outcome.lock, started, !announced, sink);
      announced = true;
      continue;
    }
    if (outcome.kind === 'broke') {
      sink({ type: 'warning', message: outcome.reason });
      // A long step of the broken holder must not keep running unmanaged.
      await session.root(stopRunUnitArgv(envPaths(session.app, outcome.lock.environment)), {
        allowFailure: true,
      });
    }
    return holdLock(session, request, token, state, sink);
  }
}

/**
 * Waits before the next try, or throws the LockError once the wait is over; the first wait says
 * whose lock it is.
 */
async function waitTurn(
  request: LockRequest,
  holder: Lock,
  started: number,
  announce: boolean,
  sink: EventSink,
): Promise<void> {
  const limit = waitLimit(request, holder);
  const waited = (Date.now() - started) / 1000;
  if (waited >= limit) {
    // Without --lock-wait nothing was waited for, however long the round trips took.
    throw lockError(holder, new Date(), limit > 0 ? Math.floor(waited) : 0);
  }
  if (announce) {
    sink({ type: 'notice', message: `waiting up to ${limit} s for the lock: ${describe(holder)}` });
  }
  await sleep(Math.min(POLL_MS, (limit - waited) * 1000 + 50));
}

/** One compare-and-swap of state.json: the lock taken (or re-entered, or broken), or a wait. */
async function tryTake(
  session: Server,
  request: LockRequest,
  token: string,
): Promise<{ outcome: Outcome; state: State }> {
  let outcome: Outcome = { kind: 'held' };
  const state = await session.updateState((current: State | undefined) => {
    const existing = current ?? emptyState(session.app, request.origin);
    request.verify?.(existing);
    // A state made by an older toss (or by hand) learns its origin from the first deploy.
    const known =
      existing.origin === undefined && request.origin !== undefined
        ? { ...existing, origin: request.origin }
        : existing;
    const now = new Date();
    const machine = machineId();
    const decision = decideAcquire(known.lock, {
      token,
      environment: request.environment,
      machine,
      now,
      isPidAlive,
    });
    if (decision === 're-enter') {
      outcome = { kind: 'held' };
      return setLock(known, heartbeat(known.lock!, now));
    }
    if (typeof decision === 'object' && 'wait' in decision) {
      outcome = { kind: 'wait', lock: known.lock! };
      return known;
    }
    outcome =
      decision === 'take'
        ? { kind: 'held' }
        : { kind: 'broke', lock: known.lock!, reason: decision.break };
    return setLock(known, newLock(request, token, machine, now));
  });
  return { outcome, state };
}

function newLock(request: LockRequest, token: string, machine: string, now: Date): Lock {
  return createLock({
    environment: request.environment,
    token,
    host: hostname(),
    machine,
    pid: process.pid,
    by: request.actor.by,
    runUrl: request.actor.runUrl,
    preemptible: request.preemptible,
    now,
  });
}

/**
 * How long to wait for `holder`. Production waits out a preview's last steps (bounded: see
 * PREVIEW_HOLD_SECONDS) rather than fail because of it; a preview's build it does not wait for
 * (it stops it).
 */
function waitLimit(request: LockRequest, holder: Lock): number {
  return isProduction(request.environment) && !isProduction(holder.environment)
    ? Math.max(request.lockWaitSeconds, PREVIEW_HOLD_SECONDS)
    : request.lockWaitSeconds;
}

/** The lock as this run holds it: the server carries its token, a heartbeat keeps it fresh. */
function holdLock(
  session: Server,
  request: LockRequest,
  token: string,
  held: State,
  sink: EventSink,
): HeldLock {
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
function lockForRequest(
  session: Server,
  request: TargetRequest,
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
          environment: request.environment,
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

/** What one locked run of deploy, remove or rollback is made of, besides its work. */
export interface LockedRun<T, A> {
  /** checked before the lock is taken (a deploy's origin); a preview deploy's lock yields */
  checks?: Pick<LockRequest, 'origin' | 'verify' | 'preemptible'>;
  /** before the lock: a result ends the run there, with nothing locked or changed */
  before?: (server: Server) => Promise<T | undefined>;
  /**
   * Work that goes on while the lock is taken (a deploy's upload), started once connected;
   * `abandon` undoes it when the lock is refused.
   */
  alongside?: { start: (server: Server) => A; abandon: (server: Server, work: A) => Promise<void> };
  /** a clearer error for a failure under the lock, e.g. a preview stopped by production */
  explain?: (server: Server, lock: HeldLock, error: unknown) => Promise<unknown>;
  /**
   * One server of several (fleet.ts): the lock is taken only once this resolves (the first
   * server's lock is held), `locked` says it was, and a failed run releases it only once
   * `releaseAfter` resolves (the first server's, after every other server's).
   */
  order?: {
    beforeLock: () => Promise<void>;
    locked: () => void;
    releaseAfter: () => Promise<void>;
  };
}

/**
 * Connects (the `connect` step), takes the app's lock for the request's environment (the `lock`
 * step), runs `work` holding it, and releases the lock and the connection whatever happens.
 */
export async function withLockedSession<T, A = undefined>(
  request: TargetRequest,
  sink: EventSink,
  run: LockedRun<T, A>,
  work: (server: Server, lock: HeldLock, alongside: A) => Promise<T>,
): Promise<T> {
  const { login, config } = request;
  const server = await step(
    sink,
    'connect',
    () => openServer(request, config.app),
    () => `${login.user}@${login.host}`,
  );
  try {
    const early = await run.before?.(server);
    if (early !== undefined) return early;
    const alongside = run.alongside?.start(server) as A;
    const lock = await (async () => {
      if (run.order) {
        // One server of several: its state is read while the first server's lock is taken, so
        // its own lock costs one write then (the session keeps what it read; a state changed
        // in between makes that write a conflict, and it reads again).
        const prefetched = server.readState().catch(() => undefined);
        await run.order.beforeLock();
        await prefetched;
      }
      const held = await lockForRequest(server, request, sink, run.checks);
      run.order?.locked();
      return held;
    })().catch(async (error: unknown) => {
      if (run.alongside) await run.alongside.abandon(server, alongside);
      throw error;
    });
    try {
      return await work(server, lock, alongside);
    } catch (error) {
      // What went on alongside and was not made use of (an upload refused before it became the
      // release) goes; what was made use of, the work's own cleanup handled.
      if (run.alongside) await run.alongside.abandon(server, alongside);
      throw run.explain ? await run.explain(server, lock, error) : error;
    } finally {
      // After a failed step; a run that went through released the lock with its record.
      await run.order?.releaseAfter().catch(() => {});
      await lock.release();
    }
  } finally {
    await server.close();
  }
}
