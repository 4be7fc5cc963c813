/**
 * How a release on disk goes live, shared by deploy and rollback: start it on the environment's
 * idle port, check its health, route Caddy to it, then switch `current` and retire the instance
 * that served until now. A release that fails before Caddy routes to it never gets traffic: its
 * instance is stopped (while this run holds the lock) and what served keeps serving.
 */
import type { HealthCheck } from '../config/schema.js';
import { TossError } from '../errors.js';
import { besideArgv } from '../remote/quote.js';
import { ensureAdminSocket } from '../server/caddy-admin.js';
import { installCaddyFileArgv } from '../server/caddy-apply.js';
import { ensureImportLine } from '../server/caddy-site.js';
import { installUnitArgv, retireInstanceArgv, startInstanceArgv } from '../server/instances.js';
import { CADDYFILE, type EnvPaths } from '../server/paths.js';
import { portGuardArgv } from '../server/port-owner.js';
import {
  checkStaticSiteArgv,
  pointSlotArgv,
  sealReleaseArgv,
  staticSiteDir,
  switchCurrentArgv,
} from '../server/release-files.js';
import { stopInstanceArgv } from '../server/systemctl.js';
import { ensureOnDemandAsk } from '../server/tls-ask.js';
import { listenWakeArgv, sleepNowArgv, stopWakeSocketArgv } from '../server/wake.js';
import { applyCaddyChange } from './caddy-errors.js';
import type { EventSink } from './events.js';
import {
  checkInstanceHealth,
  checkWorkerRunning,
  type HealthFailure,
  withPortGuard,
} from './health.js';
import type { Server } from './server.js';
import { settleAll } from './settle.js';
import { step } from './step.js';

/** A release to bring up on the idle port. */
export interface Launch {
  env: EnvPaths;
  releaseId: string;
  /** the idle port it starts on */
  port: number;
  /**
   * A fresh upload is sealed (its files made root's and read-only) before it first starts;
   * `writable`: then its directories become the app user's, so the app can add, replace and
   * remove files in its own release (never change a shipped file's inode, which other releases
   * may share as a hard link).
   */
  seal: { writable: boolean } | undefined;
  /** the unit template to install, and the one installed now (null: none yet) */
  unit: string;
  installedUnit: string | null;
  /**
   * A sleeping environment's wake templates, and the ones installed now: its socket listens
   * once the instance started, for Caddy to reach it through (see wake.ts).
   */
  wake?: { units: WakeUnits; installed: WakeUnits } | undefined;
  /** what the `start` step reports */
  detail: string;
}

export interface WakeUnits {
  socket: string | null;
  service: string | null;
}

/** How Caddy reaches the release once it is healthy. */
export interface Routing {
  /** the main Caddyfile as read (null: Caddy is not installed) */
  caddyfile: string | null;
  /** the site file for a port */
  site: (port: number) => string;
  /** the site's certificate comes on demand: the Caddyfile needs toss's `ask` (tls-ask.ts) */
  onDemandAsk?: boolean | undefined;
}

/**
 * Start, health check and route, in that order (`turn`, when given, is awaited between the check
 * and the route). On any failure before Caddy routes to the new instance, it is stopped along
 * with `undo` (a deploy's fresh release), only while this run still holds the lock; the step's
 * error is what is thrown.
 */
export async function startCheckRoute(
  server: Server,
  sink: EventSink,
  launch: Launch,
  health: InstanceHealth,
  routing: Routing | undefined,
  undo: string[][] = [],
  turn?: () => Promise<void>,
): Promise<void> {
  try {
    await startRelease(server, sink, launch);
    await checkHealth(server, sink, launch, health);
    // One server of several (fleet.ts) started and checked at once with the others; it routes in
    // its batch's turn.
    await turn?.();
    // A worker (fleet.ts) gets no site: nothing routes to it.
    if (routing !== undefined) await routeTo(server, sink, launch.env, launch.port, routing);
  } catch (error) {
    // Best effort: a cleanup that fails too (the connection is gone) must not hide the step that
    // failed and why; a later run removes what is left.
    const { env, port } = launch;
    const wakeUnits = launch.wake ? [sleepNowArgv(env, port), stopWakeSocketArgv(env, port)] : [];
    await server
      .cleanUpAsHolder([...wakeUnits, stopInstanceArgv(env, port), ...undo])
      .catch(() => false);
    throw error;
  }
}

/** How a new instance proves it is up: its health check, or (a worker) that it keeps running. */
export interface InstanceHealth {
  check: HealthCheck | undefined;
  failed: (failure: HealthFailure) => TossError;
  worker?: boolean | undefined;
}

/** A static site's release to put live: no process, Caddy serves `dir` of it as files. */
export interface StaticLaunch {
  env: EnvPaths;
  releaseId: string;
  dir: string;
  healthPath: string | undefined;
}

/**
 * A static site goes live: its release sealed read-only (no process ever writes it), checked
 * (the directory is there, with no link Caddy could follow out of it), then the site file
 * points Caddy at it. On a failure before Caddy serves it, `undo` runs and what served keeps
 * serving. Requests Caddy's old configuration is still answering read the old release, which
 * the prune keeps.
 */
export async function checkStaticAndRoute(
  server: Server,
  sink: EventSink,
  launch: StaticLaunch,
  routing: Routing,
  undo: string[][],
): Promise<void> {
  const { env, releaseId, dir, healthPath } = launch;
  try {
    await step(
      sink,
      'start',
      () =>
        server.batch([
          sealReleaseArgv(env, releaseId),
          checkStaticSiteArgv(env, releaseId, dir, healthPath),
        ]),
      () => `static site ${staticSiteDir(dir)}, no process`,
    );
    await routeTo(server, sink, env, 0, routing);
  } catch (error) {
    await server.cleanUpAsHolder(undo).catch(() => false);
    throw error;
  }
}

/** The `start` step: unit template (when it changed), slot, port guard and the instance. */
function startRelease(server: Server, sink: EventSink, launch: Launch): Promise<void> {
  const { env, releaseId, port, wake } = launch;
  const wakeChanged =
    wake !== undefined &&
    (wake.units.socket !== wake.installed.socket || wake.units.service !== wake.installed.service);
  const install = launch.installedUnit !== launch.unit || wakeChanged;
  const wakeUnits =
    wake?.units.socket && wake.units.service
      ? { socket: wake.units.socket, service: wake.units.service }
      : undefined;
  return step(
    sink,
    'start',
    async () => {
      // Nothing else may listen on the port the instance starts on (see port-owner.ts). The seal
      // walks the release while the unit, the slot and that check go ahead beside it, in the same
      // round trip; the instance starts once both are done.
      const ready = [
        ...(install ? [installUnitArgv(env, wakeUnits)] : []),
        pointSlotArgv(env, port, releaseId),
        portGuardArgv('free', port, env.instanceUnit(port)),
      ];
      const sealed = launch.seal
        ? [besideArgv(sealReleaseArgv(env, releaseId, launch.seal.writable), ready)]
        : ready;
      await withPortGuard({ app: env.app, environment: env.environment, port }, () =>
        server.batch(
          [...sealed, startInstanceArgv(env, port)],
          install ? { stdin: launch.unit } : {},
        ),
      );
    },
    () => launch.detail,
  );
}

/**
 * The `health` step: the new instance must answer before it can get any traffic. A sleeping
 * environment's wake socket starts listening meanwhile (Caddy reaches it only once the route
 * points there); a failure of either stops both (startCheckRoute).
 */
function checkHealth(
  server: Server,
  sink: EventSink,
  { env, port, wake }: Launch,
  health: InstanceHealth,
): Promise<void> {
  return step(sink, 'health', async () => {
    const target = { app: env.app, environment: env.environment, port };
    const [failure] = await settleAll([
      health.worker
        ? checkWorkerRunning(server, target)
        : checkInstanceHealth(server, { ...target, healthCheck: health.check }),
      wake ? server.batch([listenWakeArgv(env, port)]) : Promise.resolve(undefined),
    ] as const);
    if (failure !== undefined) throw health.failed(failure);
  });
}

/**
 * The `route` step: the Caddyfile gets its import line and private admin socket when it lacks
 * them (see caddy-admin.ts and caddy-apply.ts), then the site file points at the new port.
 */
function routeTo(
  server: Server,
  sink: EventSink,
  env: EnvPaths,
  port: number,
  routing: Routing,
): Promise<void> {
  return step(sink, 'route', async () => {
    const { caddyfile } = routing;
    if (caddyfile === null) {
      throw new TossError(`${CADDYFILE} does not exist: Caddy is not installed on the server`, {
        hint: 'run `toss init` to provision the server (it installs Caddy)',
      });
    }
    let text = ensureImportLine(ensureAdminSocket(caddyfile).text).text;
    if (routing.onDemandAsk) {
      const ask = ensureOnDemandAsk(text);
      text = ask.text;
      if (ask.userAsk !== undefined) {
        sink({
          type: 'warning',
          message: `the Caddyfile's on_demand_tls asks ${ask.userAsk}: that endpoint decides which names get on-demand certificates (previews', and under tls internal every site's), so it must allow ${env.environment}'s`,
        });
      }
    }
    if (text !== caddyfile) {
      const edited = text;
      await applyCaddyChange(() =>
        server.guarded(installCaddyFileArgv(CADDYFILE), { stdin: edited }),
      );
    }
    // A site file is not validated on its own first (a separate `caddy validate`, 50–100 ms on
    // every first deploy): the reload is atomic and refuses an invalid config as a whole, the
    // file then comes back, and what Caddy refused is validated in full for its message
    // (caddy-apply.ts). Only a changed Caddyfile is validated before its reload, above.
    await applyCaddyChange(() =>
      server.guarded(installCaddyFileArgv(env.siteFile, { validate: false }), {
        stdin: routing.site(port),
      }),
    );
  });
}

/**
 * `current` points at the release, the new instance comes back after a reboot, and the one that
 * served until now drains (at most `drainSeconds`) and stops. One round trip.
 */
export function switchTo(
  server: Server,
  env: EnvPaths,
  target: {
    releaseId: string;
    port: number;
    staticSite?: boolean | undefined;
    sleeps?: boolean | undefined;
  },
  oldPort: number | undefined,
  drainSeconds: number,
): Promise<unknown> {
  // A static site has no instance to keep across reboots, and none to retire.
  if (target.staticSite) return server.batch([switchCurrentArgv(env, target.releaseId)]);
  return server.batch([
    switchCurrentArgv(env, target.releaseId),
    retireInstanceArgv(
      env,
      { port: target.port, sleeps: target.sleeps === true },
      oldPort !== target.port ? oldPort : undefined,
      drainSeconds,
    ),
  ]);
}

/** The port a release starts on: whichever of the two is not live. */
export function idlePort(ports: readonly [number, number], livePort: number | undefined): number {
  return livePort === ports[0] ? ports[1] : ports[0];
}
