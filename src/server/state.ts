/**
 * `/srv/<app>/.toss/state.json`: its schema and pure transitions. The client reads it, computes the
 * next state with these functions, and writes it back by compare-and-swap (cas.ts).
 */
import { z } from 'zod';
import { ENV_NAME_MAX_LENGTH, ENV_NAME_PATTERN, isProduction } from '../config/env-name.js';
import { TossError } from '../errors.js';
import { parseJsonShape, parseJsonText } from './json-file.js';
import { type Lock, lockSchema } from './lock.js';
import { isReleaseId } from './paths.js';
import { type Policy, policySchema } from './policy.js';

const port = z.number().int().min(1).max(65535);
const releaseId = z.string().refine(isReleaseId, 'expected a release id');
const envName = z.string().max(ENV_NAME_MAX_LENGTH).regex(ENV_NAME_PATTERN);

export const environmentStateSchema = z.object({
  /** the two ports of the environment: live and idle */
  ports: z.tuple([port, port]),
  livePort: port,
  /** the live release */
  release: releaseId,
  /** the release that was live before: the rollback target, never pruned */
  previousRelease: releaseId.optional(),
  /** releases kept on disk, oldest first */
  releases: z.array(releaseId),
  commit: z.string(),
  /** the commit of each kept release, so a rollback knows what it brings back */
  commits: z.record(z.string(), z.string()).optional(),
  deployedAt: z.iso.datetime(),
  by: z.string(),
  runUrl: z.string().optional(),
  /** the branch deployed (a branch-named preview belongs to it, see isBranchPreviewOf) */
  branch: z.string().optional(),
  /**
   * Whether the environment is `branch`'s own preview (made by the action for a branch mapped to
   * "preview") rather than one deployed by name (by hand, or a branch mapped to a named
   * environment). Absent in state written before it was recorded.
   */
  branchPreview: z.boolean().optional(),
  /** the pull request of a pr-<n> preview */
  pr: z.number().int().positive().optional(),
  /** a static site: Caddy serves the release's files, no instance runs (its ports stay unused) */
  staticSite: z.literal(true).optional(),
  /** seconds without a request before it sleeps (its instance stops until the next request) */
  sleepAfter: z.number().int().positive().optional(),
  /**
   * What the live release was made from (fingerprint.ts): a deploy of the same tree, config and
   * variables changes nothing. Absent after a rollback, and in state written before it existed.
   */
  fingerprint: z.string().optional(),
});

export const dependencyStateSchema = z.object({
  command: z.string(),
  appliedAt: z.iso.datetime(),
});

export const stateSchema = z.object({
  version: z.literal(1),
  app: z.string(),
  /** normalised repository URL (origin.ts) */
  origin: z.string().optional(),
  environments: z.record(envName, environmentStateSchema),
  dependencies: z.record(z.string(), dependencyStateSchema).default({}),
  lock: lockSchema.nullable().default(null),
  /** what limits previews, recorded by the last production deploy (policy.ts) */
  policy: policySchema.optional(),
});

export type State = z.output<typeof stateSchema>;
export type EnvironmentState = z.infer<typeof environmentStateSchema>;

export function emptyState(app: string, origin?: string): State {
  const state: State = { version: 1, app, environments: {}, dependencies: {}, lock: null };
  if (origin !== undefined) state.origin = origin;
  return state;
}

/** Parses state.json text; `null` (no file yet) gives undefined. */
export function parseState(text: string | null, file = 'state.json'): State | undefined {
  if (text === null) return undefined;
  const json = parseJsonText(
    text,
    file,
    'fix or delete the file on the server (toss recreates what it can)',
  );
  const version = (json as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version > 1) {
    throw new TossError(`${file} was written by a newer toss (version ${version})`, {
      hint: 'upgrade toss',
    });
  }
  return fastState(json) ?? parseJsonShape(stateSchema, json, file, 'toss state');
}

/**
 * What parseState's schema makes of `json` when its environments are well formed, or undefined
 * (the schema then says what is wrong). Each environment is checked by hand: the schema's own
 * parse of one costs ~0.4 ms in a command's cold start, 80 ms of a `toss list` at 200
 * environments; this costs a few. It accepts only what the schema accepts and gives what the
 * schema gives (unknown keys dropped, keys in the schema's order): a property test holds it to that.
 */
export function fastState(json: unknown): State | undefined {
  if (!isRecord(json) || json.version !== 1 || typeof json.app !== 'string') return undefined;
  if (json.origin !== undefined && typeof json.origin !== 'string') return undefined;
  if (!isRecord(json.environments)) return undefined;
  const environments: Record<string, EnvironmentState> = {};
  for (const name of Object.keys(json.environments)) {
    if (name.length > ENV_NAME_MAX_LENGTH || !ENV_NAME_PATTERN.test(name)) return undefined;
    const env = fastEnvironment(json.environments[name]);
    if (env === undefined) return undefined;
    environments[name] = env;
  }
  // The rest is small: the schema's own parts parse it.
  const shape = stateSchema.shape;
  const dependencies = shape.dependencies.safeParse(json.dependencies);
  const lock = shape.lock.safeParse(json.lock);
  const policy = shape.policy.safeParse(json.policy);
  if (!dependencies.success || !lock.success || !policy.success) return undefined;
  return {
    version: 1,
    app: json.app,
    ...(json.origin === undefined ? {} : { origin: json.origin }),
    environments,
    dependencies: dependencies.data,
    lock: lock.data,
    ...(policy.data === undefined ? {} : { policy: policy.data }),
  };
}

const DATETIME = z.regexes.datetime({});

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isString = (value: unknown) => typeof value === 'string';
const isPort = (value: unknown) =>
  Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
const isPositiveInt = (value: unknown) => Number.isSafeInteger(value) && (value as number) > 0;
const isRelease = (value: unknown) => typeof value === 'string' && isReleaseId(value);

function copyRecord(record: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(record)) copy[key] = record[key];
  return copy;
}

interface FieldCheck {
  check: (value: unknown) => boolean;
  optional?: true;
  /** a copy of an array or record, as the schema makes one */
  copy?: (value: never) => unknown;
}

/** environmentStateSchema's fields, checked as it checks them. */
const ENVIRONMENT_FIELDS: Record<keyof EnvironmentState, FieldCheck> = {
  ports: {
    check: (v) => Array.isArray(v) && v.length === 2 && isPort(v[0]) && isPort(v[1]),
    copy: (v: number[]) => [v[0], v[1]],
  },
  livePort: { check: isPort },
  release: { check: isRelease },
  previousRelease: { check: isRelease, optional: true },
  releases: {
    check: (v) => Array.isArray(v) && v.every(isRelease),
    copy: (v: string[]) => [...v],
  },
  commit: { check: isString },
  commits: {
    // A `__proto__` key is left to the schema, whatever it makes of it.
    check: (v) => isRecord(v) && Object.keys(v).every((k) => k !== '__proto__' && isString(v[k])),
    optional: true,
    copy: copyRecord,
  },
  deployedAt: { check: (v) => typeof v === 'string' && DATETIME.test(v) },
  by: { check: isString },
  runUrl: { check: isString, optional: true },
  branch: { check: isString, optional: true },
  branchPreview: { check: (v) => typeof v === 'boolean', optional: true },
  pr: { check: isPositiveInt, optional: true },
  staticSite: { check: (v) => v === true, optional: true },
  sleepAfter: { check: isPositiveInt, optional: true },
  fingerprint: { check: isString, optional: true },
};
const ENVIRONMENT_KEYS = Object.keys(environmentStateSchema.shape) as Array<keyof EnvironmentState>;

/** One environment as environmentStateSchema parses it, or undefined when it would refuse it. */
function fastEnvironment(value: unknown): EnvironmentState | undefined {
  if (!isRecord(value)) return undefined;
  // Keys in the schema's order; an optional one only when the input has it.
  const out: Record<string, unknown> = {};
  for (const key of ENVIRONMENT_KEYS) {
    const field = ENVIRONMENT_FIELDS[key];
    const item = value[key];
    if (item === undefined && field.optional) continue;
    if (!field.check(item)) return undefined;
    out[key] = field.copy ? field.copy(item as never) : item;
  }
  return out as EnvironmentState;
}

/** Stable text: the same state always gives the same bytes. */
export function serializeState(state: State): string {
  return `${JSON.stringify(fastState(state) ?? stateSchema.parse(state), null, 2)}\n`;
}

export interface DeployRecord {
  release: string;
  ports: [number, number];
  livePort: number;
  commit: string;
  deployedAt: string;
  by: string;
  runUrl?: string | undefined;
  branch?: string | undefined;
  /** see EnvironmentState.branchPreview */
  branchPreview?: boolean | undefined;
  pr?: number | undefined;
  /** see EnvironmentState.staticSite */
  staticSite?: boolean | undefined;
  /** see EnvironmentState.sleepAfter */
  sleepAfter?: number | undefined;
  /** see EnvironmentState.fingerprint */
  fingerprint?: string | undefined;
  /**
   * The release that really served until now, when state does not name it: a run that crashed
   * after routing left it live but unrecorded.
   */
  replaced?: string | undefined;
}

/**
 * Whether `env` is `branch`'s own preview, which that branch's pushes deploy and its deletion
 * removes. An environment deployed by name (`toss deploy staging`, even from a local branch called
 * staging) never is; state from before `branchPreview` was recorded goes by the branch alone.
 */
export function isBranchPreviewOf(
  env: { branch?: string | undefined; branchPreview?: boolean | undefined },
  branch: string,
): boolean {
  return env.branch === branch && env.branchPreview !== false;
}

/** A release went live (deploy or rollback); the one it replaced becomes `previousRelease`. */
export function recordDeploy(state: State, environment: string, deploy: DeployRecord): State {
  const before = state.environments[environment];
  const live = deploy.replaced ?? before?.release;
  const previousRelease =
    live === undefined ? undefined : live !== deploy.release ? live : before?.previousRelease;
  const known = [...(before?.releases ?? []), ...(deploy.replaced ? [deploy.replaced] : [])];
  const next: EnvironmentState = {
    ports: deploy.ports,
    livePort: deploy.livePort,
    release: deploy.release,
    releases: [...new Set([...known, deploy.release])].sort(),
    commit: deploy.commit,
    deployedAt: deploy.deployedAt,
    by: deploy.by,
  };
  if (previousRelease !== undefined) next.previousRelease = previousRelease;
  const commits = { ...before?.commits, [deploy.release]: deploy.commit };
  next.commits = Object.fromEntries(
    Object.entries(commits).filter(([id]) => next.releases.includes(id)),
  );
  if (deploy.runUrl !== undefined) next.runUrl = deploy.runUrl;
  if (deploy.branch !== undefined) next.branch = deploy.branch;
  if (deploy.branchPreview !== undefined) next.branchPreview = deploy.branchPreview;
  if (deploy.pr !== undefined) next.pr = deploy.pr;
  if (deploy.staticSite) next.staticSite = true;
  if (deploy.sleepAfter !== undefined) next.sleepAfter = deploy.sleepAfter;
  if (deploy.fingerprint !== undefined) next.fingerprint = deploy.fingerprint;
  return { ...state, environments: { ...state.environments, [environment]: next } };
}

/** Releases deleted from disk leave the list (the live and previous one never do). */
export function recordPruned(state: State, environment: string, pruned: string[]): State {
  const env = state.environments[environment];
  if (env === undefined) return state;
  const gone = new Set(pruned.filter((id) => id !== env.release && id !== env.previousRelease));
  const releases = env.releases.filter((id) => !gone.has(id));
  const next: EnvironmentState = { ...env, releases };
  if (env.commits !== undefined) {
    next.commits = Object.fromEntries(Object.entries(env.commits).filter(([id]) => !gone.has(id)));
  }
  return { ...state, environments: { ...state.environments, [environment]: next } };
}

export function recordRemove(state: State, environment: string): State {
  const { [environment]: _removed, ...environments } = state.environments;
  return { ...state, environments };
}

export function recordDependency(
  state: State,
  name: string,
  command: string,
  appliedAt: string,
): State {
  return { ...state, dependencies: { ...state.dependencies, [name]: { command, appliedAt } } };
}

/** Dependencies never applied, or whose command changed since. */
export function pendingDependencies(state: State, wanted: Record<string, string>): string[] {
  return Object.entries(wanted)
    .filter(([name, command]) => state.dependencies[name]?.command !== command)
    .map(([name]) => name);
}

export function setLock(state: State, lock: Lock): State {
  return { ...state, lock };
}

/** Drops the lock whoever holds it (`toss lock release --force`, breaking a stale lock). */
export function clearLock(state: State): State {
  return { ...state, lock: null };
}

/** A production deploy's record of the policy its toss.json sets for previews. */
export function recordPolicy(state: State, policy: Policy): State {
  return { ...state, policy };
}

/** Preview environments, oldest deploy first (for maxPreviews and `toss list`). */
export function previewsByAge(state: State): Array<[string, EnvironmentState]> {
  return Object.entries(state.environments)
    .filter(([name]) => !isProduction(name))
    .sort(([, a], [, b]) =>
      a.deployedAt < b.deployedAt ? -1 : a.deployedAt > b.deployedAt ? 1 : 0,
    );
}
