/** Release ids and which releases a deploy may delete. */
import { randomBytes } from 'node:crypto';
import { TossError } from '../errors.js';
import { type EnvPaths, isReleaseId, STAGING_PREFIX } from './paths.js';

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

// Release ids one per line, then `link <name> <target>` for `current` and each port's slot: what
// they point at, whatever state.json says.
const LIST = `[ -d "$1" ] || exit 0
find "$1" -mindepth 1 -maxdepth 1 -type d -printf "%f\\n" || exit 1
find "$2" "$3" -maxdepth 1 -type l -printf "link %f %l\\n" 2>/dev/null
exit 0`;

/** Lists the release directories (one id per line) and what `current` and the slots point at. */
export function listReleasesArgv(p: EnvPaths): string[] {
  return ['sh', '-c', LIST, 'sh', p.releasesDir, p.currentLink, p.slotsDir];
}

/** Staging directories (`.incoming-<id>`) in listReleasesArgv's output, by release id. */
export function parseStagingList(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith(STAGING_PREFIX))
    .map((line) => line.slice(STAGING_PREFIX.length))
    .filter(isReleaseId)
    .sort();
}

/** Staging directories older than `maxAgeMs` (by the time in their id): left by a crashed run. */
export function staleStaging(ids: readonly string[], now: Date, maxAgeMs: number): string[] {
  return ids.filter((id) => {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-/.exec(id);
    if (!m) return false;
    const [, y, mo, d, h, mi, se] = m.map(Number) as number[];
    return now.getTime() - Date.UTC(y!, mo! - 1, d!, h!, mi!, se!) > maxAgeMs;
  });
}

/** The release ids in listReleasesArgv's output; foreign names are ignored. */
export function parseReleaseList(output: string): string[] {
  return output
    .split('\n')
    .map((line) => line.trim())
    .filter(isReleaseId)
    .sort();
}

/**
 * What `current` and each port's slot point at, from listReleasesArgv's output: `current` → id,
 * `3000` → id.
 */
export function parseReleaseLinks(output: string): Map<string, string> {
  const links = new Map<string, string>();
  for (const line of output.split('\n')) {
    const match = /^link (current|\d{1,5}) (.+)$/.exec(line);
    const id = match?.[2]?.split('/').pop() ?? '';
    if (match && isReleaseId(id)) links.set(match[1] as string, id);
  }
  return links;
}
