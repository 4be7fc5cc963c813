/** `toss lock status` / `toss lock release [--force]`: the app's lock, for humans. */
import { LockError } from '../errors.js';
import { describeLock } from '../server/lock.js';
import { envPaths } from '../server/paths.js';
import { clearLock, type State } from '../server/state.js';
import { stopRunUnitArgv } from '../server/systemctl.js';
import { isAbandonedLock, type LockStatus, lockStatusOf } from './inspect.js';
import { machineId } from './machine-id.js';
import type { Login } from './request.js';
import { openServer } from './session.js';

export async function readLockStatus(login: Login, app: string): Promise<LockStatus | null> {
  const session = await openServer({ login }, app);
  try {
    return lockStatusOf((await session.readState())?.lock, new Date());
  } finally {
    await session.close();
  }
}

export interface LockReleaseResult {
  /** false when there was no lock to release */
  released: boolean;
  /** what was released and why that was allowed */
  message: string;
}

/**
 * Drops the lock. Another holder's live lock is refused without `force`; a stale one, or one
 * whose process on this machine is gone, is dropped with a note. The held environment's
 * transient unit (a long step) is stopped too.
 */
export async function releaseLockAsAdmin(
  login: Login,
  app: string,
  options: { force: boolean },
): Promise<LockReleaseResult> {
  const session = await openServer({ login }, app);
  try {
    const lock = (await session.readState())?.lock;
    if (lock == null) return { released: false, message: `${app} is not locked` };
    const now = new Date();
    const holder = describeLock(lock, now);
    const abandoned = isAbandonedLock(lock, now, machineId());
    if (abandoned === undefined && !options.force) {
      throw new LockError(`refusing to release a live lock held by ${holder}`, {
        hint: 'wait for that run to finish, or pass --force if you are sure it is dead (its changes stop at the next step)',
      });
    }
    let dropped = false;
    await session.updateState((state) => {
      // Only the lock we looked at: a new holder that came meanwhile keeps theirs.
      dropped = state?.lock?.token === lock.token;
      return dropped ? clearLock(state!) : (state as State);
    });
    if (!dropped) {
      return { released: false, message: `the lock changed hands meanwhile; nothing released` };
    }
    await session.root(stopRunUnitArgv(envPaths(app, lock.environment)), { allowFailure: true });
    const why = abandoned === undefined ? 'forced' : `${abandoned}`;
    return { released: true, message: `released the lock of ${holder} (${why})` };
  } finally {
    await session.close();
  }
}
