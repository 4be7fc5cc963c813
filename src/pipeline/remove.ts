import { validateEnvName } from '../config/env-name.js';
import { TossError } from '../errors.js';
import { removeCaddyFileArgv } from '../server/caddy-apply.js';
import { drainUnit } from '../server/instances.js';
import { removeEnvironmentArgv } from '../server/layout.js';
import { envPaths } from '../server/paths.js';
import { freeEnvironment, registeredEnvironment } from '../server/registry.js';
import { recordRemove, type State } from '../server/state.js';
import { teardownUnitsArgv } from '../server/systemctl.js';
import type { EventSink } from './events.js';
import { lockForRequest } from './lock.js';
import type { RemoveRequest, RemoveResult } from './request.js';
import { Session } from './session.js';
import { step } from './step.js';

/** Tears an environment down: units, site, directory, overrides, names and ports (SPEC "Remove"). */
export async function remove(request: RemoveRequest, sink: EventSink): Promise<RemoveResult> {
  const { config } = request;
  const app = config.app;
  const environment = validateEnvName(request.environment, 'environment');
  if (environment === 'production' && !request.force) {
    throw new TossError('refusing to remove production without --force', {
      hint: `toss remove production --force deletes ${app}'s production site, service and data`,
    });
  }
  const session = await step(sink, 'connect', () => Session.open(request.login, app));
  try {
    const state = await session.readState();
    if (state === undefined) {
      sink({
        type: 'notice',
        message: `${app} was never deployed to this server: nothing to remove`,
      });
      return { environment, removed: false };
    }
    const lock = await lockForRequest(session, request, environment, sink);
    try {
      return await step(sink, 'remove', () => removeLocked(session, environment, lock.state, sink));
    } finally {
      await lock.release();
    }
  } finally {
    await session.close();
  }
}

async function removeLocked(
  session: Session,
  environment: string,
  state: State,
  sink: EventSink,
): Promise<RemoveResult> {
  const app = session.app;
  const paths = envPaths(app, environment);
  // state as the lock's own write left it: no second read of state.json.
  const registry = await session.readRegistry();
  const known = state?.environments[environment];
  const claimed = registeredEnvironment(registry, app, environment);
  const site = await session.conn.readFileIfExists(paths.siteFile);
  const leftovers = await session.root(['test', '-e', paths.envDir], { allowFailure: true });
  if (known === undefined && claimed === undefined && site === null && leftovers.code !== 0) {
    sink({
      type: 'notice',
      message: `${app} has no environment ${environment}: nothing to remove`,
    });
    return { environment, removed: false };
  }
  const ports = [...new Set([...(known?.ports ?? []), ...(claimed?.ports ?? [])])];
  // Site first: traffic stops reaching the instances before they stop.
  if (site !== null) await session.guarded(removeCaddyFileArgv(paths.siteFile));
  await session.guarded(teardownUnitsArgv(app, environment, ports));
  for (const port of ports) {
    await session.root(['systemctl', 'stop', '--', `${drainUnit(app, environment, port)}.timer`], {
      allowFailure: true,
    });
  }
  await session.guarded(removeEnvironmentArgv(app, environment));
  await session.updateRegistry((r) => freeEnvironment(r, app, environment));
  await session.updateStateAsHolder((s) => recordRemove(s, environment));
  return { environment, removed: true };
}
