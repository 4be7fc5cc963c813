/**
 * What limits the app's previews, taken from trusted configuration only. A preview deploys a
 * pull request's code, its toss.json included: were its limits read from there, the pull request
 * would set its own memory, CPU and build time, its preview count, drop previewAuth or pick its
 * own host names. So every production deploy records the policy part of its toss.json in
 * state.json, and every other environment takes those fields from that record, whatever its own
 * toss.json says. A pull request changes the policy by being merged and deployed to production.
 */
import { z } from 'zod';
import { isPrEnvName, isProduction } from '../config/env-name.js';
import type { TossConfig } from '../config/schema.js';
import {
  BASIC_AUTH_USER,
  BCRYPT_HASH,
  DNS_PROVIDER,
  durationSeconds,
  previewsSchema,
} from '../config/schema.js';

/** What previews get before any production deploy recorded a policy: toss's defaults. */
const DEFAULT_PREVIEWS = previewsSchema.parse({});

/** Default build time limits, seconds (toss.json resources.buildTimeout). */
export const PRODUCTION_BUILD_TIMEOUT = 1800;
export const PREVIEW_BUILD_TIMEOUT = 900;
/**
 * A preview's health check waits at most this long (toss.json healthCheck.timeout is capped):
 * the lock is held meanwhile, and production waits for it (PREVIEW_HOLD_SECONDS in lock.ts).
 */
export const PREVIEW_HEALTH_TIMEOUT = 60;

const limitsSchema = z.object({
  memory: z.string().optional(),
  cpu: z.string().optional(),
  buildTimeout: z.number().int().positive().optional(),
});

export const policySchema = z.object({
  /** the production release whose deploy recorded this */
  release: z.string(),
  recordedAt: z.iso.datetime(),
  domain: z.string().optional(),
  previewDomain: z.string().optional(),
  previewAuth: z
    .object({
      user: z.string().regex(BASIC_AUTH_USER),
      passwordHash: z.string().regex(BCRYPT_HASH),
    })
    .optional(),
  maxPreviews: z.number().int().min(0),
  resources: limitsSchema.extend({ previews: limitsSchema.optional() }).optional(),
  previews: z
    .object({
      sleepAfter: z.string(),
      ttl: z.string().optional(),
      memoryFloor: z.string(),
      // Policies recorded before these fields existed get their defaults.
      tls: z.enum(['on-demand', 'wildcard']).default('on-demand'),
      dns: z.string().regex(DNS_PROVIDER).optional(),
      hostNames: z.enum(['nested', 'flat']).default('nested'),
    })
    .optional(),
  sleepAfter: z.record(z.string(), z.string()).optional(),
  /** whether previews get a database (production's toss.json says); each brings its own seed */
  database: z.object({ engine: z.literal('postgres') }).optional(),
});

export type Policy = z.infer<typeof policySchema>;

/** The fields of toss.json a policy holds, in the order notices name them. */
const FIELDS = [
  'domain',
  'previewDomain',
  'previewAuth',
  'maxPreviews',
  'resources',
  'previews',
  'sleepAfter',
  'healthCheck',
  'database',
] as const;

/** What a production deploy records. */
export function policyFromConfig(config: TossConfig, release: string, now: Date): Policy {
  const policy: Policy = {
    release,
    recordedAt: now.toISOString(),
    maxPreviews: config.maxPreviews,
  };
  if (config.domain !== undefined) policy.domain = config.domain;
  if (config.previewDomain !== undefined) policy.previewDomain = config.previewDomain;
  if (config.previewAuth !== undefined) policy.previewAuth = { ...config.previewAuth };
  if (config.resources !== undefined) policy.resources = structuredClone(config.resources);
  policy.previews = { ...config.previews };
  if (config.sleepAfter !== undefined) policy.sleepAfter = { ...config.sleepAfter };
  if (config.database !== undefined) policy.database = { engine: config.database.engine };
  return policy;
}

export interface TrustedConfig {
  config: TossConfig;
  /** the toss.json fields that were replaced by the recorded policy */
  overridden: string[];
  /** whether a production deploy had recorded a policy */
  recorded: boolean;
}

/**
 * The configuration an environment deploys with: production's own toss.json as it is; any
 * other environment's with the policy fields of the last production deploy, or, before any
 * production deploy, toss's defaults (no other domain than sslip.io names, 20 previews, no
 * limits) with the preview's own previewAuth kept, since it can only protect the preview.
 */
export function trustedConfig(
  config: TossConfig,
  environment: string,
  policy: Policy | undefined,
): TrustedConfig {
  if (isProduction(environment)) return { config, overridden: [], recorded: policy !== undefined };
  const trusted: TossConfig = { ...config };
  delete trusted.domain;
  delete trusted.previewDomain;
  delete trusted.resources;
  delete trusted.sleepAfter;
  trusted.maxPreviews = policy?.maxPreviews ?? 20;
  trusted.previews = { ...(policy?.previews ?? DEFAULT_PREVIEWS) };
  if (policy !== undefined) applyPolicy(trusted, config, policy);
  if (config.healthCheck !== undefined && config.healthCheck.timeout > PREVIEW_HEALTH_TIMEOUT) {
    trusted.healthCheck = { ...config.healthCheck, timeout: PREVIEW_HEALTH_TIMEOUT };
  }
  const overridden = FIELDS.filter(
    (field) => JSON.stringify(config[field] ?? null) !== JSON.stringify(trusted[field] ?? null),
  );
  return { config: trusted, overridden, recorded: policy !== undefined };
}

/** The recorded policy's fields over a non-production environment's configuration. */
function applyPolicy(trusted: TossConfig, config: TossConfig, policy: Policy): void {
  delete trusted.previewAuth;
  if (policy.domain !== undefined) trusted.domain = policy.domain;
  if (policy.previewDomain !== undefined) trusted.previewDomain = policy.previewDomain;
  if (policy.previewAuth !== undefined) trusted.previewAuth = { ...policy.previewAuth };
  if (policy.resources !== undefined) trusted.resources = structuredClone(policy.resources);
  if (policy.sleepAfter !== undefined) trusted.sleepAfter = { ...policy.sleepAfter };
  // Whether there is a database is production's say (it provisions PostgreSQL); what a preview's
  // starts from is its own seed, run with no more rights than its own code.
  delete trusted.database;
  if (policy.database !== undefined) {
    trusted.database = { ...policy.database };
    if (config.database?.seed !== undefined) trusted.database.seed = config.database.seed;
  }
}

/** The notice a door prints when a preview's toss.json asked for other limits than it got. */
export function policyNotice(app: string, environment: string, trusted: TrustedConfig): string {
  const fields = trusted.overridden.join(', ');
  return trusted.recorded
    ? `${environment} follows the policy of ${app}'s last production deploy, not its own toss.json, for ${fields}: a preview's code cannot set its own limits (deploy the change to production to change them)`
    : `${environment} uses toss's defaults for ${fields}: no production deploy of ${app} has recorded its policy yet, and a preview's code cannot set its own limits (deploy production first)`;
}

/**
 * Seconds without a request before the environment sleeps, or undefined: it runs all the time.
 * Named environments (production included) sleep when toss.json's `sleepAfter` names them;
 * previews (pull requests' and branches') by `previews.sleepAfter`; static sites never (no
 * process). From the trusted configuration, so a pull request cannot keep its preview awake.
 */
export function sleepSecondsOf(
  config: Pick<TossConfig, 'sleepAfter' | 'previews' | 'static'>,
  environment: string,
  branchPreview: boolean,
): number | undefined {
  if (config.static !== undefined) return undefined;
  const named = config.sleepAfter?.[environment];
  const preview = isPrEnvName(environment) || (branchPreview && !isProduction(environment));
  const text = named ?? (preview ? config.previews.sleepAfter : 'off');
  return text === 'off' ? undefined : durationSeconds(text);
}

/** Limits of an environment's app unit and deployScript, from its (trusted) configuration. */
export function environmentLimits(
  config: Pick<TossConfig, 'resources'>,
  environment: string,
): { memory?: string; cpu?: string; buildTimeout: number } {
  const resources = config.resources ?? {};
  const own = isProduction(environment) ? resources : { ...resources, ...resources.previews };
  const limits: { memory?: string; cpu?: string; buildTimeout: number } = {
    buildTimeout:
      own.buildTimeout ??
      (isProduction(environment) ? PRODUCTION_BUILD_TIMEOUT : PREVIEW_BUILD_TIMEOUT),
  };
  if (own.memory !== undefined) limits.memory = own.memory;
  if (own.cpu !== undefined) limits.cpu = own.cpu;
  return limits;
}
