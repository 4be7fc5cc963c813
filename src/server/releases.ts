/** Release ids and which releases a deploy may delete. */
import { randomBytes } from 'node:crypto';
import { TossError } from '../errors.js';
import { envPaths, isReleaseId } from './paths.js';

export { assertReleaseId, isReleaseId } from './paths.js';

/** `20261127T223015Z-3fa9`: UTC time to the second, so ids sort by time; 4 hex keep them apart. */
export function newReleaseId(now: Date, suffix = randomBytes(2).toString('hex')): string {
  if (!/^[0-9a-f]{4}$/.test(suffix)) throw new TossError(`invalid release id suffix ${suffix}`);
  const stamp = now
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replaceAll('-', '')
    .replaceAll(':', '');
  return `${stamp}-${suffix}`;
}

export interface PruneParams {
  /** how many releases to keep in all (at least 2) */
  keep: number;
  /** the live release: never pruned */
  live?: string | undefined;
  /** the previous healthy release (rollback target): never pruned */
  previous?: string | undefined;
}

/** The releases to delete, oldest first: all but the newest `keep`, never live or previous. */
export function releasesToPrune(releases: readonly string[], params: PruneParams): string[] {
  if (!Number.isInteger(params.keep) || params.keep < 1) {
    throw new TossError(`invalid number of releases to keep: ${params.keep}`);
  }
  const ids = [...new Set(releases)].filter(isReleaseId).sort();
  const kept = new Set([params.live, params.previous].filter((id) => id !== undefined));
  for (const id of [...ids].reverse()) {
    if (kept.size >= params.keep) break;
    kept.add(id);
  }
  return ids.filter((id) => !kept.has(id));
}

/** Lists the release directories (one id per line); foreign names are ignored by the parser. */
export function listReleasesArgv(app: string, environment: string): string[] {
  const dir = envPaths(app, environment).releasesDir;
  // No releases directory yet means no releases, not an error.
  const script =
    '[ -d "$1" ] || exit 0; exec find "$1" -mindepth 1 -maxdepth 1 -type d -printf "%f\\n"';
  return ['sh', '-c', script, 'sh', dir];
}

export function parseReleaseList(output: string): string[] {
  return output
    .split('\n')
    .map((line) => line.trim())
    .filter(isReleaseId)
    .sort();
}
