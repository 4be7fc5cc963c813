/**
 * A release's fingerprint: what it was made from. A deploy whose fingerprint is the live
 * release's, onto a live release that is healthy and routed as a deploy would route it, changes
 * nothing on the server: it says "unchanged, still live" and ends before the lock (`--force`, or
 * the action's `force` input, deploys anyway).
 *
 * Three parts, each a SHA-256 (128 bits kept), recorded in state.json with the release:
 *   files      the upload's file list as rsync itself makes it here, with the same filters as the
 *              upload (excludes, .gitignore, .tossignore): every path, its permissions, a
 *              symlink's target and each file's checksum (`rsync -n --checksum`, nothing written).
 *              So whatever the upload would leave out, the fingerprint leaves out too; mtimes,
 *              which a fresh checkout sets anew, are not in it.
 *   config     toss.json as the environment gets it (a preview's after production's policy, see
 *              policy.ts), its host name, and the version of toss: what shapes the unit, the site,
 *              the build on the server and the database.
 *   variables  the environment's secrets and overrides (after this deploy's `-s`): what its env
 *              file is made of.
 * Computed where it is cheapest: the file list on the machine that deploys (tree-hash.ts), from
 * the CLI's first moments while the SSH connection is being made; the rest from reads that a
 * deploy makes anyway. A build on the runner is fingerprinted by its output, so a build that is not
 * reproducible makes every deploy a change, which is the safe side.
 */
import { createHash } from 'node:crypto';
import type { TossConfig } from '../config/schema.js';
import { databaseName } from '../server/database.js';
import { applyOverrideArgs, parseEnvFile } from '../server/env-file.js';
import { checkOrigin } from '../server/origin.js';
import type { EnvPaths } from '../server/paths.js';
import { trustedConfig } from '../server/policy.js';
import { listReleasesArgv, parseReleaseLinks } from '../server/releases.js';
import type { EnvironmentState, State } from '../server/state.js';
import { VERSION } from '../version.js';
import type { EventSink } from './events.js';
import { answersAsInstanceArgv, serverAddress } from './health.js';
import type { DeployRequest, DeployResult } from './request.js';
import type { Server } from './server.js';
import { hostNameOf, siteFor, unitFor, urlOf } from './server-files.js';
import { step } from './step.js';

const PARTS = ['files', 'config', 'variables'] as const;
type Part = (typeof PARTS)[number];
const PREFIX = 'v1';

/** What a release is made of, besides its files (see the top of this file). */
export interface FingerprintInputs {
  /** the upload's file list, hashed (tree-hash.ts) */
  files: string;
  /** the trusted config */
  config: TossConfig;
  hostName: string;
  secrets: ReadonlyMap<string, string>;
  /** the environment's overrides after this deploy's `-s` */
  overrides: ReadonlyMap<string, string>;
}

/** `v1 files:<hex> config:<hex> variables:<hex>` */
export function fingerprintOf(inputs: FingerprintInputs): string {
  const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32);
  const entries = (map: ReadonlyMap<string, string>) =>
    [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const parts: Record<Part, string> = {
    files: inputs.files.slice(0, 32),
    config: digest(
      canonicalJson({ toss: VERSION, hostName: inputs.hostName, config: inputs.config }),
    ),
    variables: digest(
      JSON.stringify({ secrets: entries(inputs.secrets), overrides: entries(inputs.overrides) }),
    ),
  };
  return [PREFIX, ...PARTS.map((part) => `${part}:${parts[part]}`)].join(' ');
}

/**
 * What differs between two fingerprints, as people say it: "files and variables changed";
 * undefined when they are the same.
 */
export function describeChange(was: string | undefined, now: string): string | undefined {
  if (was === now) return undefined;
  if (was === undefined) return 'no fingerprint recorded for the live release';
  if (!was.startsWith(`${PREFIX} `)) return 'recorded by another version of toss';
  const partsOf = (fp: string) =>
    new Map(fp.split(' ').map((p) => p.split(':') as [string, string]));
  const a = partsOf(was);
  const b = partsOf(now);
  const changed = PARTS.filter((part) => a.get(part) !== b.get(part)).map((part) =>
    part === 'config' ? 'toss.json' : part,
  );
  const last = changed.pop();
  return `${changed.length ? `${changed.join(', ')} and ` : ''}${last ?? 'something'} changed`;
}

/** Keys sorted at every level, so the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : v,
  );
}

/** What a no-change deploy needs from deploy.ts: its checks, run as they would be under the lock. */
export interface UnchangedCheck {
  request: DeployRequest;
  env: EnvPaths;
  /** the normalised origin of the checkout */
  origin: string;
  /** the upload's file list, hashed (tree-hash.ts), started before connecting */
  files: Promise<string | undefined>;
  /** refuses a deploy the lock path would refuse (a branch's preview owned by another) */
  verify: (before: EnvironmentState) => void;
  /** the sleep a deploy would give the environment (policy.ts sleepSecondsOf) */
  sleepAfter: (config: TossConfig, before: EnvironmentState) => number | undefined;
  /** told the state read here (the upload stages and links by it) */
  known?: (state: State | undefined) => void;
}

/**
 * Before the lock: when nothing changed since the live release and it is healthy, the deploy's
 * result without a new release (nothing on the server changes, no lock is taken); undefined
 * otherwise, and the deploy goes ahead. The state read here is the one the lock's compare-and-swap
 * starts from (no second read); the upload starts once this says the release changed, one round
 * trip later than it would without the comparison.
 */
export async function unchangedDeploy(
  server: Server,
  check: UnchangedCheck,
  sink: EventSink,
): Promise<DeployResult | undefined> {
  const { request, env } = check;
  const [state, texts] = await Promise.all([
    server.readState(),
    server.readFiles([env.secretsFile, env.overridesFile, env.siteFile, env.unitTemplateFile]),
  ]);
  const before = state?.environments[env.environment];
  check.known?.(state);
  // Nothing to compare with (a first deploy), or another run holds the lock: the lock decides.
  if (state === undefined || before === undefined || state.lock) return undefined;
  const files = await check.files;
  if (files === undefined) return undefined;
  checkOrigin(env.app, state.origin, check.origin);
  check.verify(before);
  return step(
    sink,
    'compare',
    async () => {
      const [secrets = null, overrides = null, site = null, unit = null] = texts;
      const config = trustedConfig(request.config, env.environment, state.policy).config;
      const hostName = hostNameOf(config, env, await serverAddress(request.login.host));
      const fingerprint = fingerprintOf({
        files,
        config,
        hostName,
        secrets: parseEnvFile(secrets ?? '', env.secretsFile),
        overrides: applyOverrideArgs(
          parseEnvFile(overrides ?? '', env.overridesFile),
          request.overrides,
        ),
      });
      const change = describeChange(before.fingerprint, fingerprint);
      if (change !== undefined) return { result: undefined, detail: `${change}: deploying` };
      const sleepAfter = check.sleepAfter(config, before);
      const drift = await liveDrift(server, {
        config,
        env,
        before,
        hostName,
        site,
        unit,
        sleepAfter,
      });
      if (drift !== undefined)
        return { result: undefined, detail: `unchanged, but ${drift}: deploying` };
      const result: DeployResult = {
        environment: env.environment,
        url: urlOf(config, hostName),
        release: before.release,
        port: before.livePort,
        confirmed: true,
        unchanged: true,
        sleepAfter,
        database:
          config.database === undefined
            ? undefined
            : { name: databaseName(env.app, env.environment), from: 'kept' },
      };
      return { result, detail: `unchanged since release ${before.release}, still live` };
    },
    (outcome) => outcome.detail,
  ).then((outcome) => outcome.result);
}

interface Live {
  config: TossConfig;
  env: EnvPaths;
  before: EnvironmentState;
  hostName: string;
  site: string | null;
  unit: string | null;
  sleepAfter: number | undefined;
}

/**
 * Why the live release is not what a deploy of the same fingerprint would leave, or not healthy;
 * undefined when it is both. Its site and unit must be the ones a deploy would write, `current`
 * and its port's slot must point at it, and it must answer: its health check within a second,
 * from its own unit (a sleeping one: its socket listening, so that nothing is woken; a static
 * site: nothing runs).
 */
async function liveDrift(server: Server, live: Live): Promise<string | undefined> {
  const written = writtenDrift(live);
  if (written !== undefined) return written;
  const { config, env, before, sleepAfter } = live;
  const port = before.livePort;
  const isStatic = config.static !== undefined;
  const answers = isStatic
    ? undefined
    : sleepAfter !== undefined
      ? ['systemctl', 'is-active', '--quiet', '--', env.wakeSocketUnit(port)]
      : answersAsInstanceArgv(env.instanceUnit(port), port, config.healthCheck?.path, 1);
  const [links, answer] = await Promise.all([
    server.root(listReleasesArgv(env)),
    answers === undefined ? undefined : server.root(answers, { allowFailure: true }),
  ]);
  const linked = parseReleaseLinks(links.stdout);
  if (linked.get('current') !== before.release) return '`current` is not the live release';
  if (!isStatic && linked.get(String(port)) !== before.release) {
    return `port ${port}'s slot is not the live release`;
  }
  if (answer !== undefined && answer.code !== 0) {
    return sleepAfter !== undefined
      ? 'its wake socket is not listening'
      : 'it did not pass its health check';
  }
  return undefined;
}

/** The live release's site and unit against what a deploy would write now. */
function writtenDrift(live: Live): string | undefined {
  const { config, env, before, sleepAfter } = live;
  if (before.sleepAfter !== sleepAfter) return 'its sleep changed';
  const wake = sleepAfter !== undefined;
  if (
    live.site !== siteFor(config, env, live.hostName, before.livePort, before.release, { wake })
  ) {
    return 'its Caddy site is not what toss.json makes';
  }
  if (config.static === undefined && live.unit !== unitFor(config, env, before.ports)) {
    return 'its unit is not what toss.json makes';
  }
  return undefined;
}
