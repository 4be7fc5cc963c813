import { validateEnvName } from '../config/env-name.js';
import { TossError } from '../errors.js';
import { removeCaddyFileArgv } from '../server/caddy-apply.js';
import { drainUnit } from '../server/instances.js';
import { removeEnvironmentArgv } from '../server/layout.js';
import { envPaths } from '../server/paths.js';
import {
  describeForeignNames,
  foreignNames,
  freeEnvironment,
  registeredEnvironment,
} from '../server/registry.js';
import { isBranchPreviewOf, recordRemove, type State } from '../server/state.js';
import { teardownUnitsArgv } from '../server/systemctl.js';
import { applyCaddyChange } from './caddy-errors.js';
import type { EventSink } from './events.js';
import { lockForRequest } from './lock.js';
import type { RemoveRequest, RemoveResult } from './request.js';
import type { Server } from './server.js';
import { openServer } from './session.js';
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
  const session = await step(sink, 'connect', () => openServer(request, app));
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
      return await step(sink, 'remove', () =>
        removeLocked(session, request, environment, lock.state, sink),
      );
    } finally {
      await lock.release();
    }
  } finally {
    await session.close();
  }
}

async function removeLocked(
  session: Server,
  request: RemoveRequest,
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
  const [site = null, unit = null] = await session.readFiles([
    paths.siteFile,
    paths.unitTemplateFile,
  ]);
  const leftovers = await session.root(['test', '-e', paths.envDir], { allowFailure: true });
  const ownsSomething = known !== undefined || claimed !== undefined || leftovers.code === 0;
  if (
    request.branch !== undefined &&
    known !== undefined &&
    !isBranchPreviewOf(known, request.branch)
  ) {
    throw new TossError(
      `refusing to remove ${app}/${environment} for branch ${JSON.stringify(request.branch)}: state says it belongs to ${known.branch === undefined ? 'no branch (a named environment)' : `branch ${JSON.stringify(known.branch)}`}`,
      { hint: `remove it by name if it should go: toss remove ${environment}` },
    );
  }
  // Unit and site names are `<app>-<env>`, which another app can produce too (shop/api-staging,
  // shop-api/staging): whatever another app owns is never touched, whatever this app's own
  // state or leftovers say.
  const foreign = foreignNames(registry, app, environment, [
    [paths.siteFile, site],
    [paths.unitTemplateFile, unit],
  ]);
  if (foreign.length > 0 && !ownsSomething) {
    const owner = foreign[0]!.owner;
    throw new TossError(
      `refusing to remove ${app}/${environment}: ${describeForeignNames(foreign)}; ${app} has nothing named ${environment} on this server`,
      {
        hint: `to remove that environment, run toss remove ${owner.environment} in app ${owner.app}'s checkout`,
      },
    );
  }
  if (!ownsSomething && site === null) {
    sink({
      type: 'notice',
      message: `${app} has no environment ${environment}: nothing to remove`,
    });
    return { environment, removed: false };
  }
  if (foreign.length > 0) {
    sink({
      type: 'warning',
      message: `removing only what is ${app}'s own of ${environment} (its directory, overrides and records); left alone: ${describeForeignNames(foreign)}`,
    });
  } else {
    const ports = [...new Set([...(known?.ports ?? []), ...(claimed?.ports ?? [])])];
    // Site first: traffic stops reaching the instances before they stop.
    if (site !== null) {
      await applyCaddyChange(() => session.guarded(removeCaddyFileArgv(paths.siteFile)));
    }
    await session.guarded(teardownUnitsArgv(paths, ports));
    await session.cleanUpAsHolder(
      ports.map((port) => ['systemctl', 'stop', '--', `${drainUnit(paths, port)}.timer`]),
    );
  }
  await session.guarded(removeEnvironmentArgv(paths));
  await session.updateRegistry((r) => freeEnvironment(r, app, environment));
  await session.updateStateAsHolder((s) => recordRemove(s, environment));
  return { environment, removed: true };
}
