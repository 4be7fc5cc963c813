import {
  branchToPreviewName,
  ENV_NAME_RULE,
  hashedPreviewName,
  isEnvName,
  isPrEnvName,
  PRODUCTION,
} from '../config/env-name.js';
import { formatPath, formatValue } from '../config/errors-format.js';
import { ConfigError } from '../errors.js';
import { isBranchPreviewOf } from '../server/state.js';

/** The `branches` value that means "a preview named after the branch". */
export const PREVIEW_TARGET = 'preview';

/** What a branch maps to: the pattern that matched, its value, and the environment it names. */
export interface BranchTarget {
  pattern: string;
  value: string;
  environment: string;
  /** true when the value is "preview": the environment is named after the branch and owned by it */
  preview: boolean;
}

type Token = { kind: 'char'; char: string } | { kind: 'star' } | { kind: 'globstar' };

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '*') tokens.push({ kind: 'char', char: pattern[i]! });
    else if (pattern[i + 1] === '*') {
      tokens.push({ kind: 'globstar' });
      i++;
    } else tokens.push({ kind: 'star' });
  }
  return tokens;
}

/**
 * Whether `branch` matches `pattern`: `*` is any run of characters within one path segment,
 * `**` any run across segments, every other character is itself (git forbids `*` in branch names).
 */
export function matchBranch(pattern: string, branch: string): boolean {
  // A table instead of a regex: no backtracking blow-up on patterns with many stars.
  let row: boolean[] = new Array(branch.length + 1).fill(false);
  row[0] = true;
  for (const token of tokenize(pattern)) {
    const next: boolean[] = new Array(branch.length + 1).fill(false);
    for (let j = 0; j <= branch.length; j++) {
      if (token.kind === 'char') {
        next[j] = j > 0 && row[j - 1]! && branch[j - 1] === token.char;
      } else {
        const extends_ =
          j > 0 && next[j - 1]! && (token.kind === 'globstar' || branch[j - 1] !== '/');
        next[j] = row[j]! || extends_;
      }
    }
    row = next;
  }
  return row[branch.length]!;
}

/**
 * The first entry of `branches` (object order) whose pattern matches `branch`, resolved to an
 * environment; without `branches`, only `defaultBranch` maps, to production.
 * A mapped value that is not a usable environment name throws ConfigError; it is never rewritten.
 */
export function targetForBranch(
  branches: Record<string, string> | undefined,
  branch: string,
  defaultBranch: string,
): BranchTarget | undefined {
  // Object order is insertion order, except that integer-like keys ("42") come first.
  const entries = branches ? Object.entries(branches) : [[defaultBranch, PRODUCTION] as const];
  // Environments the configuration names: a branch preview never takes one of these names.
  const named = entries.map(([, value]) => value).filter((value) => value !== PREVIEW_TARGET);
  for (const [pattern, value] of entries) {
    if (!matchBranch(pattern, branch)) continue;
    if (value === PREVIEW_TARGET) {
      return { pattern, value, environment: branchToPreviewName(branch, named), preview: true };
    }
    // The schema checks this too; repeated here because this function is the last gate.
    if (!isEnvName(value) || isPrEnvName(value)) {
      throw new ConfigError([
        `toss.json: ${formatPath(['branches', pattern])}: expected an environment name (${ENV_NAME_RULE}; not pr-<n>), or "preview", got ${formatValue(value)}`,
      ]);
    }
    return { pattern, value, environment: value, preview: false };
  }
  return undefined;
}

/** The environment a push to `branch` deploys, or undefined when nothing maps it. */
export function environmentForBranch(
  branches: Record<string, string> | undefined,
  branch: string,
  defaultBranch: string,
): string | undefined {
  return targetForBranch(branches, branch, defaultBranch)?.environment;
}

/** What state.json says of an environment, as far as branch ownership goes. */
export interface RecordedEnvironment {
  branch?: string | undefined;
  branchPreview?: boolean | undefined;
}

/**
 * Where `branch`'s preview lives on a server whose app has `environments` (its state.json):
 * `planned` (the name resolution gave it) unless an environment the branch does not own already
 * has that name (one deployed by hand, say `toss deploy staging`, or another branch's), and then
 * the branch's hashed name. A preview the branch already owns under either name stays there, so
 * deploys and the branch's deletion find the same environment.
 */
export function routeBranchPreview(
  branch: string,
  planned: string,
  environments: Readonly<Record<string, RecordedEnvironment>>,
): string {
  const hashed = hashedPreviewName(branch);
  if (planned === hashed) return planned;
  const owns = (name: string) =>
    Object.hasOwn(environments, name) && isBranchPreviewOf(environments[name]!, branch);
  if (owns(planned)) return planned;
  if (owns(hashed)) return hashed;
  return Object.hasOwn(environments, planned) ? hashed : planned;
}
