import { installCaddyFileArgv } from '../server/caddy-apply.js';
import { routedPort } from '../server/instances.js';
import { isOwnLock } from '../server/lock.js';
import { envPaths } from '../server/paths.js';
import { clearLock } from '../server/state.js';
import { isActiveArgv, stopInstanceArgv, stopRunUnitArgv } from '../server/systemctl.js';
import { applyCaddyChange } from './caddy-errors.js';
import type { EventSink } from './events.js';
import type { Login } from './request.js';
import { openServer } from './session.js';

export interface RecoverRequest {
  app: string;
  login: Login;
  environment: string;
  /** the lock token of the run that was interrupted */
  token: string;
  tls: 'auto' | 'internal' | 'off';
}

/**
 * After a run was cancelled mid-deploy (the action's post step): stop its long step, send traffic
 * back to the recorded live release if the switch was never recorded, release its lock.
 * Does nothing when the lock has already moved on to someone else.
 */
export async function recoverInterruptedRun(
  request: RecoverRequest,
  sink: EventSink,
): Promise<boolean> {
  const session = await openServer(request, request.app);
  try {
    const state = await session.readState();
    if (state === undefined || !isOwnLock(state.lock, request.token)) return false;
    const { app, environment } = request;
    session.holdLock(request.token);
    // Guarded, like everything below: the lock may move on between the read above and now.
    if (!(await session.cleanUpAsHolder([stopRunUnitArgv(envPaths(app, environment))])))
      return false;
    const live = state.environments[environment];
    const paths = envPaths(app, environment);
    const site = (await session.readFiles([paths.siteFile]))[0] ?? null;
    const routed = routedPort(site);
    if (live && site !== null && routed !== undefined && routed !== live.livePort) {
      const liveUp = await session.root(isActiveArgv(paths, live.livePort), {
        allowFailure: true,
      });
      if (liveUp.code === 0) {
        await applyCaddyChange(() =>
          session.guarded(installCaddyFileArgv(paths.siteFile), {
            stdin: site.replace(`127.0.0.1:${routed}`, `127.0.0.1:${live.livePort}`),
          }),
        );
        await session.cleanUpAsHolder([stopInstanceArgv(paths, routed)]);
        sink({
          type: 'warning',
          message: `the interrupted switch of ${environment} was undone: traffic is back on release ${live.release}`,
        });
      }
    }
    await session.updateState((s) =>
      s !== undefined && isOwnLock(s.lock, request.token) ? clearLock(s) : s!,
    );
    return true;
  } finally {
    await session.close();
  }
}
