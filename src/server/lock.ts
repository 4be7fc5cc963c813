/**
 * The app's deploy lock, kept in state.json and changed only by compare-and-swap. These are the
 * pure rules: who holds it, when it is stale, what to do.
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { isProduction } from '../config/env-name.js';
import { LockError } from '../errors.js';

/** The holder refreshes heartbeatAt this often. */
export const HEARTBEAT_INTERVAL_MS = 20_000;
/** No heartbeat for this long: the holder is gone. */
export const HEARTBEAT_STALE_MS = 2 * 60_000;
/** A lock that never had heartbeats (an older toss) is stale after this long. */
export const LEGACY_STALE_MS = 30 * 60_000;

export const lockSchema = z.object({
  environment: z.string(),
  /** whoever has this random token holds the lock */
  token: z.string().regex(/^[0-9a-f]{16,64}$/),
  /** host name of the client machine (for people: two machines may share one) */
  host: z.string(),
  /**
   * Which process-id space `pid` belongs to (see machineIdentity); absent in locks of an older
   * toss, which are then never taken for this machine's.
   */
  machine: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .optional(),
  /** process id of the client on that machine */
  pid: z.number().int(),
  startedAt: z.iso.datetime(),
  heartbeatAt: z.iso.datetime().optional(),
  /** who deploys: a GitHub actor or a local user */
  by: z.string(),
  runUrl: z.string().optional(),
  /**
   * Set while a preview deploy has not finished its build (deployScript): a production deploy
   * may then take the lock at once and stop the build, so a pull request's build never holds up
   * a hot-fix. Until then the preview changed nothing shared that a crash would not also leave
   * (a claimed name, a staging copy, its own env files).
   */
  preemptible: z.boolean().optional(),
});

export type Lock = z.infer<typeof lockSchema>;

export function newLockToken(): string {
  return randomBytes(16).toString('hex');
}

/** What identifies the client machine, as read there (see src/pipeline/machine-id.ts). */
export interface MachineFacts {
  /** /etc/machine-id, or an id kept in the user's config directory where there is none */
  machineId: string;
  /** /proc/sys/kernel/random/boot_id: new at every boot, so a cloned machine-id still differs */
  bootId?: string | undefined;
  /** /proc/self/ns/pid: containers on one machine number their processes apart */
  pidNamespace?: string | undefined;
}

const MACHINE_SALT = 'toss lock machine v1';

/**
 * The lock's machine field: a process id means the same process only within one machine, boot
 * and pid namespace, so those three are hashed together. Hashed with a salt of toss's own
 * because /etc/machine-id is meant to stay on the machine (other programs derive keys from it).
 */
export function machineIdentity(facts: MachineFacts): string {
  const text = [MACHINE_SALT, facts.machineId, facts.bootId ?? '', facts.pidNamespace ?? ''].join(
    '\n',
  );
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

export interface CreateLockParams {
  environment: string;
  token: string;
  host: string;
  machine: string;
  pid: number;
  by: string;
  runUrl?: string | undefined;
  /** a preview deploy's lock, until its build is done (see the schema) */
  preemptible?: boolean | undefined;
  now: Date;
}

export function createLock(params: CreateLockParams): Lock {
  const at = params.now.toISOString();
  const lock: Lock = {
    environment: params.environment,
    token: params.token,
    host: params.host,
    machine: params.machine,
    pid: params.pid,
    startedAt: at,
    heartbeatAt: at,
    by: params.by,
  };
  if (params.runUrl !== undefined) lock.runUrl = params.runUrl;
  if (params.preemptible) lock.preemptible = true;
  return lockSchema.parse(lock);
}

/** The same lock, marked as yielding to production (or not any more). */
export function withPreemptible(lock: Lock, preemptible: boolean): Lock {
  const next = { ...lock };
  if (preemptible) next.preemptible = true;
  else delete next.preemptible;
  return next;
}

/** The same lock with a fresh heartbeat. */
export function heartbeat(lock: Lock, now: Date): Lock {
  return { ...lock, heartbeatAt: now.toISOString() };
}

export function isOwnLock(lock: Lock | null | undefined, token: string): boolean {
  return lock != null && lock.token === token;
}

/** No heartbeat for 2 minutes, or (no heartbeats at all) started over 30 minutes ago. */
export function isLockStale(lock: Lock, now: Date): boolean {
  if (lock.heartbeatAt !== undefined) {
    return now.getTime() - Date.parse(lock.heartbeatAt) > HEARTBEAT_STALE_MS;
  }
  return now.getTime() - Date.parse(lock.startedAt) > LEGACY_STALE_MS;
}

/**
 * Taken on this very machine by a process that no longer exists. The host name never decides:
 * two CI runners or laptops may share one, and a pid dead here may be alive there. A lock of an
 * older toss (no machine field) is never taken for this machine's; it goes stale instead.
 */
export function isDeadProcessLock(
  lock: Lock,
  thisMachine: string,
  isPidAlive: (pid: number) => boolean,
): boolean {
  return lock.machine !== undefined && lock.machine === thisMachine && !isPidAlive(lock.pid);
}

export type AcquireDecision = 'take' | 're-enter' | { break: string } | { wait: string };

export interface AcquireContext {
  token: string;
  /** the environment the lock is wanted for */
  environment?: string | undefined;
  /** this machine's machineIdentity */
  machine: string;
  now: Date;
  isPidAlive: (pid: number) => boolean;
}

export function decideAcquire(lock: Lock | null | undefined, ctx: AcquireContext): AcquireDecision {
  if (lock == null) return 'take';
  if (isOwnLock(lock, ctx.token)) return 're-enter';
  const holder = describeLock(lock, ctx.now);
  if (isLockStale(lock, ctx.now)) {
    const since = lock.heartbeatAt === undefined ? 'started' : 'last heartbeat';
    const at = lock.heartbeatAt ?? lock.startedAt;
    return {
      break: `breaking a stale lock (${since} ${humanizeDuration(ctx.now.getTime() - Date.parse(at))} ago): ${holder}`,
    };
  }
  const production = ctx.environment !== undefined && isProduction(ctx.environment);
  if (production && !isProduction(lock.environment) && lock.preemptible) {
    return {
      break: `stopping ${lock.environment}'s build to deploy production first (deploy ${lock.environment} again afterwards): ${holder}`,
    };
  }
  if (isDeadProcessLock(lock, ctx.machine, ctx.isPidAlive)) {
    return {
      break: `breaking a lock whose process ${lock.pid} on ${lock.host} is gone: ${holder}`,
    };
  }
  return { wait: holder };
}

/** `alice on ci-runner (pid 123), deploying pr-42, started 3 min 5 s ago, run https://…` */
export function describeLock(lock: Lock, now: Date): string {
  const age = humanizeDuration(now.getTime() - Date.parse(lock.startedAt));
  const run = lock.runUrl === undefined ? '' : `, run ${lock.runUrl}`;
  return `${lock.by} on ${lock.host} (pid ${lock.pid}), deploying ${lock.environment}, started ${age} ago${run}`;
}

/** The error after waiting in vain: names the holder, its age and its run. */
export function lockError(lock: Lock, now: Date, waitedSeconds: number): LockError {
  const waited = waitedSeconds > 0 ? ` (waited ${humanizeDuration(waitedSeconds * 1000)})` : '';
  return new LockError(`another deploy holds the lock${waited}: ${describeLock(lock, now)}`, {
    hint: 'wait for it to finish, pass --lock-wait SECONDS, or run `toss lock release --force` if you are sure it is dead',
  });
}

/** `45 s`, `3 min 5 s`, `2 h 7 min`, `3 d 4 h`. */
export function humanizeDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? `${m} min` : `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`;
}
