/**
 * `toss remove <env>`: tears an environment down under the lock: its Caddy site, units,
 * directory, overrides, names, ports and records. Whatever another app owns under the same
 * `<app>-<env>` names is left alone.
 */
import { validateEnvName } from '../config/env-name.js';
import { TossError } from '../errors.js';
import { removeCaddyFileArgv } from '../server/caddy-apply.js';
import { databaseName, dropDatabaseRun, parseDatabaseList } from '../server/database.js';
import { removeEnvironmentArgv } from '../server/layout.js';
import { type EnvPaths, envPaths } from '../server/paths.js';
import {
  describeForeignNames,
  type ForeignName,
  foreignNames,
  freeEnvironment,
  type Registry,
  registeredEnvironment,
} from '../server/registry.js';
import {
  type EnvironmentState,
  isBranchPreviewOf,
  recordRemove,
  type State,
} from '../server/state.js';
import { teardownUnitsArgv } from '../server/systemctl.js';
import { applyCaddyChange } from './caddy-errors.js';
import { listDatabases } from './database-step.js';
import type { EventSink } from './events.js';
import { fleetOf, serverSink } from './fleet.js';
import { type HeldLock, withLockedSession } from './lock.js';
import type { RemoveRequest, RemoveResult } from './request.js';
import type { Server } from './server.js';
import { settleAll } from './settle.js';
import { step } from './step.js';

/** Removes an environment; production only with `force`. */
export function remove(request: RemoveRequest, sink: EventSink): Promise<RemoveResult> {
  const { app } = request.config;
  const env = envPaths(app, validateEnvName(request.environment, 'environment'));
  const environment = env.environment;
  if (env.isProduction && !request.force) {
    return Promise.reject(
      new TossError('refusing to remove production without --force', {
        hint: `toss remove production --force deletes ${app}'s production site, service and data`,
      }),
    );
  }
  return withLockedSession(
    request,
    sink,
    {
      before: async (server) => {
        if ((await server.readState()) !== undefined) return undefined;
        sink({
          type: 'notice',
          message: `${app} was never deployed to this server: nothing to remove`,
        });
        return { environment, removed: false };
      },
    },
    async (server, lock) => {
      // Production on several servers (toss.json `servers`): the others go first, each under
      // its own lock while this one holds the app's; the first server's record goes last, so a
      // server that fails leaves production recorded here and a rerun finishes the job.
      if (env.isProduction && (request.fleet?.length ?? 0) > 0) {
        await removeFromOthers(request, sink);
      }
      return step(sink, 'remove', () =>
        removeLocked(server, request.branch, env, lock, request.dropDatabase === true, sink),
      );
    },
  );
}

async function removeFromOthers(request: RemoveRequest, sink: EventSink): Promise<void> {
  const others = fleetOf(request.config, request.login, request.fleet ?? []).slice(1);
  const { lockToken: _token, onLockAcquired: _acquired, fleet: _fleet, ...common } = request;
  const settled = await Promise.allSettled(
    others.map((member) =>
      remove({ ...common, login: member.login }, serverSink(sink, member.name)),
    ),
  );
  const failed = settled.flatMap((s, i) =>
    s.status === 'rejected' ? [`${others[i]!.name}: ${(s.reason as Error).message}`] : [],
  );
  if (failed.length > 0) {
    throw new TossError(
      `production was not removed from ${failed.join('\n')}\nit stays on the first server until every other one is done`,
      { hint: 'bring the server back and run toss remove production --force again' },
    );
  }
}

/** What the server holds of the environment, read at once under the lock. */
interface Holdings {
  /** the environment in state, and in the registry */
  known: EnvironmentState | undefined;
  claimed: { ports: number[] } | undefined;
  registry: Registry;
  site: string | null;
  unit: string | null;
  /** whether its directory exists */
  leftovers: boolean;
  /** its database, when PostgreSQL answers and has one */
  database: string | undefined;
}

async function removeLocked(
  server: Server,
  branch: string | undefined,
  env: EnvPaths,
  lock: HeldLock,
  dropDatabase: boolean,
  sink: EventSink,
): Promise<RemoveResult> {
  const { app, environment } = env;
  const held = await readHoldings(server, env, lock.state);
  // Production's database outlives it unless asked; every other environment's goes with it (an
  // orphan one `toss status` found included).
  const dropsDatabase = held.database !== undefined && (!env.isProduction || dropDatabase);
  const ownsSomething =
    held.known !== undefined || held.claimed !== undefined || held.leftovers || dropsDatabase;
  assertBranchOwns(env, held.known, branch);
  // Unit and site names are `<app>-<env>`, which another app can produce too (shop/api-staging,
  // shop-api/staging): whatever another app owns is never touched, whatever this app's own
  // state or leftovers say.
  const foreign = foreignNames(held.registry, app, environment, [
    [env.siteFile, held.site],
    [env.unitTemplateFile, held.unit],
  ]);
  if (foreign.length > 0 && !ownsSomething) throw foreignOnly(env, foreign);
  if (!ownsSomething && held.site === null) {
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
    await stopServing(server, env, held);
  }
  await server.guarded(removeEnvironmentArgv(env));
  if (held.database !== undefined) {
    if (dropsDatabase) {
      // Its instances are stopped: what still holds a connection (a shell) is ended.
      const drop = dropDatabaseRun(app, environment);
      await server.guarded(drop.argv, { stdin: drop.stdin });
    } else {
      sink({
        type: 'notice',
        message: `kept production's database ${held.database}; \`toss remove production --force --drop-database\` drops it`,
      });
    }
  }
  await server.updateRegistry((r) => freeEnvironment(r, app, environment));
  // The record and the lock's release in one write of state.json.
  await lock.finish((s) => recordRemove(s, environment));
  return { environment, removed: true };
}

async function readHoldings(server: Server, env: EnvPaths, state: State): Promise<Holdings> {
  // state as the lock's own write left it: no second read of state.json.
  const [registry, [site = null, unit = null], leftovers, databases] = await Promise.all([
    server.readRegistry(),
    server.readFiles([env.siteFile, env.unitTemplateFile]),
    server.root(['test', '-e', env.envDir], { allowFailure: true }),
    // Without PostgreSQL (or with it stopped) there is no database to drop.
    listDatabases(server, env.app),
  ]);
  const name = databaseName(env.app, env.environment);
  const hasDatabase =
    databases.code === 0 && parseDatabaseList(databases.stdout).some((d) => d.name === name);
  return {
    database: hasDatabase ? name : undefined,
    known: state.environments[env.environment],
    claimed: registeredEnvironment(registry, env.app, env.environment),
    registry,
    site,
    unit,
    leftovers: leftovers.code === 0,
  };
}

/** A branch's deletion removes only the preview state says the branch owns. */
function assertBranchOwns(
  env: EnvPaths,
  known: EnvironmentState | undefined,
  branch: string | undefined,
): void {
  if (branch === undefined || known === undefined || isBranchPreviewOf(known, branch)) return;
  const owner =
    known.branch === undefined
      ? 'no branch (a named environment)'
      : `branch ${JSON.stringify(known.branch)}`;
  throw new TossError(
    `refusing to remove ${env.app}/${env.environment} for branch ${JSON.stringify(branch)}: state says it belongs to ${owner}`,
    { hint: `remove it by name if it should go: toss remove ${env.environment}` },
  );
}

function foreignOnly(env: EnvPaths, foreign: ForeignName[]): TossError {
  const owner = foreign[0]!.owner;
  return new TossError(
    `refusing to remove ${env.app}/${env.environment}: ${describeForeignNames(foreign)}; ${env.app} has nothing named ${env.environment} on this server`,
    {
      hint: `to remove that environment, run toss remove ${owner.environment} in app ${owner.app}'s checkout`,
    },
  );
}

/**
 * Site first, so traffic stops reaching the instances before they stop; then every unit of the
 * environment in one command: the drains of both ports, the instances, the long-step unit, the
 * template and the slice of its instances (see teardownUnitsArgv).
 */
async function stopServing(server: Server, env: EnvPaths, held: Holdings): Promise<void> {
  const ports = [...new Set([...(held.known?.ports ?? []), ...(held.claimed?.ports ?? [])])];
  // The site and the units go side by side: Caddy's reload re-reads every site on the server and
  // systemd's work grows with its units, so one after the other cost both. An environment being
  // removed may answer 502 between its instance stopping and its site going, which is what
  // removing it means; its ports stay claimed in the registry until both are done, so nothing
  // else can start on them meanwhile.
  await settleAll([
    held.site === null
      ? Promise.resolve(undefined)
      : applyCaddyChange(() => server.guarded(removeCaddyFileArgv(env.siteFile))),
    server.guarded(teardownUnitsArgv(env, ports)),
  ] as const);
}
