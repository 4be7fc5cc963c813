/**
 * The action's dependency cache around toss.json's `build`, through `@actions/cache` (GitHub's
 * cache service). The client and the Azure storage SDK it brings are loaded only here, on the
 * first cache call, so a run without a cache never pays for loading them.
 *
 * A cache never fails a deploy: the client reports its own failures as warnings and carries on
 * (a restore that failed reads as a miss), and everything else is caught and said as a warning.
 */
import type { BuildCache, CacheOutcome } from '../pipeline/local-build.js';
import type { CachePlan } from './cache-plan.js';

type CacheClient = typeof import('@actions/cache');

/** What the cache did in this run, for the job summary. */
export interface CacheReport {
  /** `hit`: the exact key; `partial`: a restore key (another lockfile, the base branch) */
  restore?: 'hit' | 'partial' | 'miss' | 'unavailable';
  matchedKey?: string;
  saved?: boolean;
}

export function actionBuildCache(plan: CachePlan): BuildCache & { report: CacheReport } {
  const report: CacheReport = {};
  return {
    report,
    async restore() {
      const client = await import('@actions/cache');
      if (!client.isFeatureAvailable()) {
        report.restore = 'unavailable';
        return unavailable('restored');
      }
      const { result: matched, warnings } = await watchingWarnings(() =>
        client.restoreCache([...plan.paths], plan.key, [...plan.restoreKeys]),
      );
      return restored(plan, matched, warnings, report);
    },
    async save() {
      if (report.restore === 'hit') return { detail: `${plan.key} is cached as it is` };
      // The client retries a failing service for about half a minute per call: a service that
      // failed the restore is not asked again in the same run.
      if (report.restore === 'unavailable') return { detail: 'skipped: the cache service failed' };
      const client: CacheClient = await import('@actions/cache');
      if (!client.isFeatureAvailable()) return unavailable('saved');
      const { result: id, warnings } = await watchingWarnings(() =>
        client.saveCache([...plan.paths], plan.key),
      );
      report.saved = id !== -1;
      if (id !== -1) return { detail: `saved as ${plan.key}` };
      return warnings.length > 0
        ? { detail: 'not saved', warning: `the build cache was not saved: ${warnings.join('; ')}` }
        : { detail: `not saved: another run saved ${plan.key} first` };
    },
  };
}

function restored(
  plan: CachePlan,
  matched: string | undefined,
  warnings: string[],
  report: CacheReport,
): CacheOutcome {
  if (matched !== undefined) {
    report.restore = matched === plan.key ? 'hit' : 'partial';
    report.matchedKey = matched;
    return { detail: `${report.restore === 'hit' ? 'hit' : 'restored from'} ${matched}` };
  }
  if (warnings.length > 0) {
    report.restore = 'unavailable';
    return {
      detail: 'unavailable',
      warning: `the build cache could not be restored (${warnings.join('; ')}); building cold`,
    };
  }
  report.restore = 'miss';
  return { detail: `miss (${plan.key})` };
}

function unavailable(what: 'restored' | 'saved'): CacheOutcome {
  return {
    detail: 'no cache service',
    warning: `the build cache is not ${what}: this runner has no cache service (ACTIONS_RESULTS_URL or ACTIONS_CACHE_URL is not set)${what === 'restored' ? '; building cold' : ''}`,
  };
}

/**
 * Runs `work` while noting the warnings the cache client writes (it reports failures with
 * `core.warning`, a `::warning::` line on stdout, and returns as if nothing was found). The
 * lines still go out as they are; only their text is kept, to say why the cache did nothing.
 */
async function watchingWarnings<T>(
  work: () => Promise<T>,
): Promise<{ result: T; warnings: string[] }> {
  const warnings: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString() : '';
    for (const line of text.split('\n')) {
      const warning = /^::warning(?: [^:]*)?::(.*)$/.exec(line.trimEnd());
      // @actions/core escapes a command's message: %25 is "%", %0D and %0A are line breaks.
      if (warning) warnings.push(warning[1]!.replace(/%0D|%0A/g, ' ').replaceAll('%25', '%'));
    }
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof process.stdout.write;
  try {
    return { result: await work(), warnings };
  } finally {
    process.stdout.write = write;
  }
}
