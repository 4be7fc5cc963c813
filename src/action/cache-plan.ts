/**
 * What the action's dependency cache holds and under which key: toss.json's `cache`, or paths
 * detected from the lockfiles in root; a key from the lockfiles' content, the paths and the build
 * commands, per runner OS and architecture; and one restore key, so a branch whose lockfile
 * changed (or a new pull request's branch, which GitHub lets read its base branch's caches)
 * starts from the newest cache of this app instead of from nothing.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { TossConfig } from '../config/schema.js';

/**
 * Lockfile → what its package manager keeps between installs (the download cache, not the
 * installed tree: `npm ci` deletes node_modules first, so caching it would only cost time).
 * Paths that do not exist after the build are left out when saving.
 */
export const LOCKFILE_CACHES: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['package-lock.json', ['~/.npm']],
  ['npm-shrinkwrap.json', ['~/.npm']],
  ['yarn.lock', ['~/.cache/yarn', '.yarn/cache']],
  ['pnpm-lock.yaml', ['~/.local/share/pnpm/store']],
  ['bun.lock', ['~/.bun/install/cache']],
  ['bun.lockb', ['~/.bun/install/cache']],
  ['requirements.txt', ['~/.cache/pip']],
  ['Pipfile.lock', ['~/.cache/pip', '~/.cache/pipenv']],
  ['poetry.lock', ['~/.cache/pip', '~/.cache/pypoetry']],
  ['uv.lock', ['~/.cache/uv']],
  ['Gemfile.lock', ['vendor/bundle']],
  ['go.sum', ['~/go/pkg/mod', '~/.cache/go-build']],
  ['Cargo.lock', ['~/.cargo/registry', '~/.cargo/git', 'target']],
  ['composer.lock', ['~/.cache/composer']],
];

/** Framework caches worth keeping between builds, by a file that says the framework is used. */
const FRAMEWORK_CACHES: ReadonlyArray<readonly [string, string]> = [
  ['next.config.js', '.next/cache'],
  ['next.config.mjs', '.next/cache'],
  ['next.config.ts', '.next/cache'],
  ['astro.config.mjs', 'node_modules/.astro'],
  ['nuxt.config.ts', 'node_modules/.cache'],
];

export interface CachePlan {
  /** as @actions/cache takes them: `~/…`, absolute, or relative to the action's working directory */
  paths: string[];
  key: string;
  restoreKeys: string[];
  /** the lockfiles the key was made from */
  lockfiles: string[];
}

export interface Runner {
  os: string;
  arch: string;
}

type ReadFile = (path: string) => string | undefined;

const readIfThere: ReadFile = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * The cache for this build, or undefined when there is none: no `build`, `cache: false`, or
 * nothing to detect. `cwd` is the directory @actions/cache resolves relative paths from.
 */
export function cachePlan(
  config: TossConfig,
  sourceDir: string,
  cwd: string,
  runner: Runner,
  read: ReadFile = readIfThere,
): CachePlan | undefined {
  if (config.build === undefined || config.cache === false) return undefined;
  const present = new Map<string, string>();
  for (const [name] of [...LOCKFILE_CACHES, ...FRAMEWORK_CACHES]) {
    const text = read(join(sourceDir, name));
    if (text !== undefined) present.set(name, text);
  }
  const wanted = config.cache ?? detectedPaths(present);
  if (wanted.length === 0) return undefined;
  const paths = wanted.map((path) => forCacheClient(path, sourceDir, cwd));
  const lockfiles = LOCKFILE_CACHES.map(([name]) => name).filter((name) => present.has(name));
  const hash = createHash('sha256');
  for (const name of lockfiles) hash.update(`${name}\0${present.get(name)}\0`);
  hash.update(JSON.stringify({ paths, build: config.build }));
  // "_" never appears in an app name: one app's restore key never matches another's keys.
  const prefix = `toss-build_${config.app}_${runner.os}_${runner.arch}_`;
  return {
    paths,
    key: `${prefix}${hash.digest('hex').slice(0, 32)}`,
    restoreKeys: [prefix],
    lockfiles,
  };
}

function detectedPaths(present: Map<string, string>): string[] {
  const paths = new Set<string>();
  for (const [name, cached] of LOCKFILE_CACHES) {
    if (present.has(name)) for (const path of cached) paths.add(path);
  }
  // A framework's cache only matters when something is installed to build with.
  if (paths.size > 0) {
    for (const [name, cached] of FRAMEWORK_CACHES) if (present.has(name)) paths.add(cached);
  }
  return [...paths];
}

/** `~/…` and absolute paths stay; a path relative to root becomes relative to `cwd`. */
function forCacheClient(path: string, sourceDir: string, cwd: string): string {
  if (path.startsWith('~/') || isAbsolute(path)) return path;
  return relative(cwd, resolve(sourceDir, path)) || '.';
}
