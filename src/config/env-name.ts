import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { formatValue } from './errors-format.js';

/** One DNS label of lowercase letters, digits and single inner dashes, starting with a letter. */
export const ENV_NAME_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
export const ENV_NAME_MAX_LENGTH = 63;
export const ENV_NAME_RULE =
  'lowercase letters, digits and single dashes, starting with a letter, at most 63 characters';

/**
 * An environment name that has been checked: only validateEnvName, isEnvName and the functions
 * here that make names produce one, so code that takes an EnvName never has to check it again.
 */
export type EnvName = string & { readonly __brand: 'EnvName' };

export const PRODUCTION = 'production' as EnvName;

const PR_ENV_NAME = /^pr-[0-9]+$/;
const HASH_LENGTH = 8;
// Slugged names end with this; a branch name that already does is hashed too, so the two kinds never meet.
const HASH_SUFFIX = new RegExp(`-[0-9a-f]{${HASH_LENGTH}}$`);

export function isEnvName(name: unknown): name is EnvName {
  return (
    typeof name === 'string' && name.length <= ENV_NAME_MAX_LENGTH && ENV_NAME_PATTERN.test(name)
  );
}

/** Returns `name` if it is a valid environment name; never rewrites it. `field` names where it came from. */
export function validateEnvName(name: string, field: string): EnvName {
  if (isEnvName(name)) return name;
  throw new ConfigError([
    `${field}: expected an environment name (${ENV_NAME_RULE}), got ${formatValue(name)}`,
  ]);
}

export function isProduction(name: string): boolean {
  return name === PRODUCTION;
}

/** `pr-<n>` names belong to pull requests (leading zeros included, so `pr-007` is one too). */
export function isPrEnvName(name: string): boolean {
  return PR_ENV_NAME.test(name);
}

/** The environment of pull request `n`. */
export function prNumberEnv(n: number): EnvName {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new ConfigError([
      `pull request number: expected a whole number ≥ 1, got ${formatValue(n)}`,
    ]);
  }
  return `pr-${n}` as EnvName;
}

/** The pull request number of a `pr-<n>` environment, else undefined. */
export function prNumberOf(name: string): number | undefined {
  if (!isPrEnvName(name)) return undefined;
  const n = Number(name.slice(3));
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

/**
 * The preview environment of a branch (as `git branch` names it, without `refs/heads/`).
 * A branch that is already a valid, unreserved name keeps it; any other is slugged and gets
 * `-` + 8 hex of sha256(branch), so distinct branches never share an environment. `taken` are
 * names the configuration gives other environments (the values of `branches`): a branch named
 * like one of them is hashed too, so its preview never lands in that environment.
 */
export function branchToPreviewName(branch: string, taken: readonly string[] = []): EnvName {
  const slug = slugOf(branch);
  const reserved =
    isProduction(slug) || isPrEnvName(slug) || HASH_SUFFIX.test(slug) || taken.includes(slug);
  if (slug === branch && !reserved && isEnvName(slug)) return slug;
  return hashedPreviewName(branch);
}

/**
 * The branch's preview name with its hash suffix, whatever the branch: what branchToPreviewName
 * gives a branch whose plain name is reserved, and where a preview goes when an environment of
 * the app that the branch does not own already has its plain name.
 */
export function hashedPreviewName(branch: string): EnvName {
  const slug = slugOf(branch);
  const lettered = /^[a-z]/.test(slug) ? slug : `b-${slug}`.replace(/-+$/, '');
  const base = lettered.slice(0, ENV_NAME_MAX_LENGTH - HASH_LENGTH - 1).replace(/-+$/, '');
  const hash = createHash('sha256').update(branch, 'utf8').digest('hex').slice(0, HASH_LENGTH);
  const name = `${base}-${hash}`;
  // `pr` + an all-digit hash would look like a pull request's environment.
  return (isPrEnvName(name) ? `b-${name}` : name) as EnvName;
}

function slugOf(branch: string): string {
  return branch
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}
