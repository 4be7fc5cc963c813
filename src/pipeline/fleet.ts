/**
 * Production on several servers (toss.json `servers`): one deploy, one lock, rolling and
 * health-gated, never a silent mix of releases.
 *
 * Each server runs the one-server deploy (deploy.ts) over its own connection, with its own
 * state.json, lock and fencing token; this module orders them:
 *
 * 1. Every server is connected, in parallel, before anything changes; one that cannot be reached
 *    fails the deploy naming it (or is left out with `--skip-server`).
 * 2. The first server's lock is the app's lock: every other server takes its own only once the
 *    first one's is held, and the first one's is released only after every other's. A second
 *    deploy is refused (or waits) at the first server, before it touches any other.
 * 3. The release (one id everywhere) uploads to every server at once and is prepared on each.
 * 4. Every server starts it on its idle port at once (no traffic reaches it yet). Then, in
 *    batches of `rollout.batch`, each server checks its health and routes its Caddy to it; the
 *    next batch is checked only once this one is routed.
 * 5. Every server keeps its old instance running until the last batch is routed: only then do
 *    they all switch `current` and retire the old instances. A failure anywhere before that
 *    routes every server that was routed back to its old instance (its Caddy site as it was),
 *    stops the new instances, and the deploy fails naming the server that failed.
 */
import type { FleetServer, TossConfig } from '../config/schema.js';
import { TossError } from '../errors.js';
import { installCaddyFileArgv, removeCaddyFileArgv } from '../server/caddy-apply.js';
import { type Balance, buildPrivateSite, buildSiteFile } from '../server/caddy-site.js';
import type { StatusWarning } from '../server/drift.js';
import type { EnvPaths } from '../server/paths.js';
import { stopInstanceArgv } from '../server/systemctl.js';
import { sleepNowArgv, stopWakeSocketArgv } from '../server/wake.js';
import { applyCaddyChange } from './caddy-errors.js';
import type { EventSink, PipelineEvent } from './events.js';
import type { Launch } from './go-live.js';
import type { DeployRequest, Login, TargetRequest } from './request.js';
import type { Server } from './server.js';
import { wildcardOf } from './server-files.js';
import { openServer } from './session.js';
import { StepError, step } from './step.js';

/** One server of production's, as toss.json names it, and how to log in to it. */
export interface FleetMember {
  /** the SSH target as written in toss.json (`server`, or an entry of `servers`) */
  name: string;
  login: Login;
  role: 'web' | 'worker';
  /** its private address (with a front) */
  private?: string | undefined;
}

/** What one server's deploy needs from the others (see deploy.ts). */
export interface ServerPart {
  member: FleetMember;
  /** one release id on every server */
  releaseId: string;
  /** the public name, the same on every server */
  hostName: string;
  /** the config this server runs: a worker's startCommand, no health path */
  config: (config: TossConfig) => TossConfig;
  /**
   * The site this server's Caddy gets for a port (`wake`: through the environment's wake
   * socket, see wake.ts), given the one-server site; undefined: none (a worker).
   */
  site?: SiteOf | undefined;
  /** whether this server serves the public name itself (confirmed over HTTPS here) */
  confirm: boolean;
  order: { beforeLock: () => Promise<void>; locked: () => void; releaseAfter: () => Promise<void> };
  /** resolves when this server's batch may route; throws once the rollout stopped */
  turn: () => Promise<void>;
  /** this server is routed: resolves once every server is, throws once the rollout stopped */
  routed: () => Promise<void>;
  /** this server's deploy failed under its lock: every other one stops (before its cleanup) */
  failed: (error: unknown) => void;
  /** a deploy's upload tree, hashed once for every server (fingerprint.ts) */
  files?: Promise<string | undefined> | undefined;
}

export type SiteOf = (port: number, publicSite: (port: number) => string, wake: boolean) => string;

/** What toss.json says production runs on: `server` first, then `servers`. */
export function fleetOf(config: TossConfig, first: Login, logins: Login[]): FleetMember[] {
  const more = config.servers ?? [];
  if (logins.length !== more.length) {
    throw new TossError(`expected a login for each of the ${more.length} servers in toss.json`);
  }
  return [
    { name: config.server, login: first, role: 'web', private: config.front?.private },
    ...more.map((entry: FleetServer, i) => ({
      name: entry.server,
      login: logins[i]!,
      role: entry.role,
      private: entry.private,
    })),
  ];
}

/** What every server's part of one run shares: the release, the public name, the upload's hash. */
export interface Shared {
  releaseId: string;
  hostName: string;
  files?: Promise<string | undefined> | undefined;
}

/**
 * Runs `work` (a deploy or a rollback) on every member over its open connection, in the
 * rollout's order (see the top of this file); resolves with each server's result, or throws the
 * failure of the server that failed first, naming it.
 */
export async function runFleet<R extends TargetRequest, T>(
  request: R,
  env: EnvPaths,
  members: FleetMember[],
  servers: Server[],
  shared: Shared,
  sink: EventSink,
  work: (own: R, part: ServerPart, sink: EventSink) => Promise<T>,
): Promise<T[]> {
  const { config } = request;
  const names = members.map((m) => m.name);
  const rollout = new Rollout(names, config.rollout?.batch ?? 1);
  const upstreams = members
    .filter((m) => m.role === 'web' && m.private !== undefined && config.front !== undefined)
    .map((m) => `${m.private}:${config.front!.port}`);
  const runs = members.map(async (member, index) => {
    const part: ServerPart = {
      member,
      ...shared,
      config: (c) =>
        member.role === 'worker'
          ? { ...c, startCommand: c.worker?.startCommand, healthCheck: undefined }
          : c,
      site: siteOf(config, env, member, index === 0, upstreams, shared.hostName),
      confirm: member.role === 'web' && (config.front === undefined || index === 0),
      order: rollout.order(index),
      turn: () => rollout.turn(index),
      routed: () => rollout.routed(index),
      failed: (error) => rollout.fail(index, error),
    };
    const server = servers[index]!;
    // The action's post step releases the first server's lock only: the others' tokens are
    // their own, and each one's run releases it.
    const own: R = { ...request, login: member.login, connect: async () => server };
    if (index > 0) {
      delete own.lockToken;
      delete own.onLockAcquired;
    }
    try {
      return await work(own, part, serverSink(sink, member.name));
    } catch (error) {
      rollout.fail(index, error);
      throw error;
    } finally {
      rollout.done(index);
    }
  });
  const settled = await Promise.allSettled(runs);
  const errors = settled.map((s) => (s.status === 'rejected' ? s.reason : undefined));
  if (errors.some((e) => e !== undefined)) throw namedFailure(rollout, names, errors);
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/** Whether a deploy of `env` goes to several servers: production, when toss.json names more. */
export function isFleetDeploy(config: TossConfig, env: EnvPaths): boolean {
  return env.isProduction && (config.servers?.length ?? 0) > 0;
}

/** The members a deploy goes to, without the skipped ones (each must name a server). */
export function membersToDeploy(members: FleetMember[], skip: readonly string[]): FleetMember[] {
  for (const name of skip) {
    if (!members.some((m) => m.name === name)) {
      throw new TossError(
        `--skip-server ${JSON.stringify(name)} is not one of toss.json's servers (${members.map((m) => m.name).join(', ')})`,
      );
    }
  }
  if (skip.includes(members[0]!.name)) {
    throw new TossError(
      `cannot skip ${members[0]!.name}: the first server holds the app's lock and record`,
      { hint: 'make another server the first one (`server` in toss.json) while it is away' },
    );
  }
  return members.filter((m) => !skip.includes(m.name));
}

/**
 * Opens every member's connection at once; one that fails closes the others and fails the
 * deploy naming it, before anything changed anywhere.
 */
export async function connectAll(
  members: FleetMember[],
  app: string,
  connect: DeployRequest['connect'],
): Promise<Server[]> {
  const opening = members.map((m) => openServer({ login: m.login, connect }, app));
  const settled = await Promise.allSettled(opening);
  const failed = settled.findIndex((s) => s.status === 'rejected');
  if (failed === -1) return settled.map((s) => (s as PromiseFulfilledResult<Server>).value);
  await Promise.all(
    settled.map((s) => (s.status === 'fulfilled' ? s.value.close().catch(() => {}) : undefined)),
  );
  const name = members[failed]!.name;
  const reason = (settled[failed] as PromiseRejectedResult).reason as Error;
  throw new TossError(
    `cannot reach ${name}: ${reason.message}\nnothing changed on any server`,
    failed === 0
      ? { hint: `bring ${name} back: it holds the app's lock and record`, cause: reason }
      : {
          hint: `bring it back and deploy again, or deploy to the others: toss deploy production --skip-server ${name}`,
          cause: reason,
        },
  );
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The deploy stopped because another server failed: this one went back. */
export class RolloutStopped extends TossError {
  override name = 'RolloutStopped';
}

/**
 * The order of a rollout across `count` servers in batches of `batch`: which may route, who is
 * routed, who failed first. Every wait ends when any server fails.
 */
export class Rollout {
  private failure: { index: number; error: unknown } | undefined;
  private readonly batchRouted: Deferred[];
  private readonly left: number[];
  private readonly allRouted = deferred();
  private readonly firstLocked = deferred();
  private readonly othersDone: Deferred[];
  private routedCount = 0;

  constructor(
    private readonly names: string[],
    private readonly batch: number,
  ) {
    const batches = Math.ceil(names.length / batch);
    this.batchRouted = Array.from({ length: batches }, deferred);
    this.left = Array.from({ length: batches }, (_, b) =>
      Math.min(batch, names.length - b * batch),
    );
    this.othersDone = names.map(deferred);
  }

  /** The first failure, if any: the server's index and its error. */
  get failed(): { index: number; error: unknown } | undefined {
    return this.failure;
  }

  fail(index: number, error: unknown): void {
    if (this.failure === undefined) this.failure = { index, error };
    for (const d of [...this.batchRouted, this.allRouted, this.firstLocked]) d.resolve();
  }

  /** Server `index` is done, whichever way (the first server's lock waits for the others). */
  done(index: number): void {
    this.othersDone[index]!.resolve();
  }

  private check(): void {
    if (this.failure === undefined) return;
    const name = this.names[this.failure.index];
    throw new RolloutStopped(`stopped: ${name} failed`);
  }

  order(index: number): ServerPart['order'] {
    if (index === 0) {
      return {
        beforeLock: async () => {},
        locked: () => this.firstLocked.resolve(),
        releaseAfter: async () => {
          await Promise.all(this.othersDone.slice(1).map((d) => d.promise));
        },
      };
    }
    return {
      beforeLock: async () => {
        await this.firstLocked.promise;
        this.check();
      },
      locked: () => {},
      releaseAfter: async () => {},
    };
  }

  async turn(index: number): Promise<void> {
    const b = Math.floor(index / this.batch);
    if (b > 0) await this.batchRouted[b - 1]!.promise;
    this.check();
  }

  async routed(index: number): Promise<void> {
    this.check();
    const b = Math.floor(index / this.batch);
    this.left[b]!--;
    if (this.left[b] === 0) this.batchRouted[b]!.resolve();
    this.routedCount++;
    if (this.routedCount === this.names.length) this.allRouted.resolve();
    await this.allRouted.promise;
    this.check();
  }
}

/**
 * One server of several is routed; it waits for every other one. When any of them failed, its
 * Caddy site goes back to what it was (`previousSite`; the old instance never stopped), and the
 * new instance and `undo` (a deploy's new release) go, while this run holds its lock.
 */
export async function holdRouted(
  server: Server,
  sink: EventSink,
  part: ServerPart,
  launch: Pick<Launch, 'env' | 'port' | 'wake'>,
  previousSite: string | null,
  undo: string[][],
): Promise<void> {
  try {
    await part.routed();
  } catch (error) {
    const { env, port } = launch;
    if (part.site !== undefined) {
      await step(
        sink,
        'route-back',
        () =>
          applyCaddyChange(() =>
            previousSite === null
              ? server.guarded(removeCaddyFileArgv(env.siteFile))
              : server.guarded(installCaddyFileArgv(env.siteFile, { validate: false }), {
                  stdin: previousSite,
                }),
          ),
        () => (previousSite === null ? 'no site, as before' : 'the release it served before'),
      ).catch(() => {});
    }
    const wakeUnits = launch.wake ? [sleepNowArgv(env, port), stopWakeSocketArgv(env, port)] : [];
    await server
      .cleanUpAsHolder([...wakeUnits, stopInstanceArgv(env, port), ...undo])
      .catch(() => false);
    throw error;
  }
}

/** Step events of one server, tagged with its name so the doors can tell them apart. */
export function serverSink(sink: EventSink, name: string): EventSink {
  return (event: PipelineEvent) => {
    if (event.type === 'secrets') return sink(event);
    sink({ ...event, server: name });
  };
}

/**
 * The site each web server's Caddy gets. With a front: every web server answers on its
 * private address only, and the first server also balances the public name across them all.
 * Without one: each serves the public name itself (DNS points at all of them).
 */
export function siteOf(
  config: TossConfig,
  env: EnvPaths,
  member: FleetMember,
  first: boolean,
  upstreams: string[],
  hostName: string,
): SiteOf | undefined {
  if (member.role === 'worker') return undefined;
  const front = config.front;
  if (front === undefined) return (port, publicSite) => publicSite(port);
  const address = member.private;
  if (address === undefined) throw new TossError(`${member.name} has no private address`);
  return (port, _publicSite, wake) => {
    const own = buildPrivateSite({
      address,
      port: front.port,
      target: { port, wake },
      app: env.app,
      environment: env.environment,
    });
    if (!first) return own;
    const balance: Balance = { upstreams, healthUri: config.healthCheck?.path ?? '/' };
    const publicSite = buildSiteFile({
      hostName,
      balance,
      tls: config.tls,
      app: env.app,
      environment: env.environment,
      noindex: config.noindex,
      // The previews live on the first server: under previews.tls "wildcard" their certificate
      // is this site's to manage, as production's own site manages it on one server.
      wildcard: wildcardOf(config),
    });
    return `${own}\n${publicSite}`;
  };
}

/** The failure a fleet deploy reports: the first server's own error, naming it. */
export function namedFailure(rollout: Rollout, names: string[], errors: unknown[]): unknown {
  const first = rollout.failed;
  const index = first?.index ?? errors.findIndex((e) => e !== undefined);
  const error = first?.error ?? errors[index];
  const inner = error instanceof StepError ? error.cause : error;
  const name = names[index];
  const routedBack = errors.some((e, i) => i !== index && isStopped(e));
  const suffix = routedBack
    ? '\nevery server that had switched went back to the release it served before; none serves this one'
    : '';
  if (inner instanceof Error) {
    inner.message = `${name}: ${inner.message}${suffix}`;
    if (error instanceof StepError) error.message = inner.message;
  }
  return error;
}

function isStopped(error: unknown): boolean {
  const inner = error instanceof StepError ? error.cause : error;
  return inner instanceof RolloutStopped;
}

/** What one of production's other servers runs, as its own state.json says. */
export interface ServerRelease {
  name: string;
  /** production's live release there; null: none; undefined: the server could not be read */
  release: string | null | undefined;
  /** why it could not be read */
  error?: string | undefined;
}

/**
 * Production's drift across its servers: each server whose release is not the first server's
 * (skipped by a deploy, failed, or unreachable now), with the command that brings it in line.
 */
export function fleetDrift(first: string | null, others: ServerRelease[]): StatusWarning[] {
  const fix = 'toss deploy production';
  const warnings: StatusWarning[] = [];
  for (const other of others) {
    if (other.release === undefined) {
      warnings.push({
        kind: 'server-drift',
        environment: 'production',
        message: `${other.name} could not be read: ${other.error ?? 'unknown error'}`,
        fix: `bring ${other.name} back, then ${fix}`,
      });
    } else if (other.release !== first) {
      const runs = other.release === null ? 'runs no release' : `runs release ${other.release}`;
      const theFirst =
        first === null ? 'the first server runs none' : `the first server runs ${first}`;
      warnings.push({
        kind: 'server-drift',
        environment: 'production',
        message: `${other.name} ${runs}, but ${theFirst} (a deploy skipped it, or failed there)`,
        fix,
      });
    }
  }
  return warnings;
}

/** Production's release on each of the other servers, read in parallel; none is changed. */
export async function readFleetReleases(
  app: string,
  members: FleetMember[],
  connect?: DeployRequest['connect'],
): Promise<ServerRelease[]> {
  return Promise.all(
    members.map(async (member) => {
      try {
        const server = await openServer({ login: member.login, connect }, app);
        try {
          const state = await server.readState();
          return { name: member.name, release: state?.environments.production?.release ?? null };
        } finally {
          await server.close();
        }
      } catch (error) {
        return { name: member.name, release: undefined, error: (error as Error).message };
      }
    }),
  );
}
