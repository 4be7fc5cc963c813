/**
 * The action's dependency cache around toss.json's `build`, through `@actions/cache` (GitHub's
 * cache service). Each call runs in a worker thread (cache-worker.ts): the client and the Azure
 * storage SDK load there, never on the main thread, and never at all in a run without a cache.
 *
 * A cache never fails a deploy: the client reports its own failures as warnings and carries on
 * (a restore that failed reads as a miss), and anything else is caught and said as a warning.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BuildCache, CacheOutcome } from '../pipeline/local-build.js';
import type { CacheCallResult, CacheOp } from './cache-client.js';
import type { CachePlan } from './cache-plan.js';

/** What the cache did in this run, for the job summary. */
export interface CacheReport {
  /** `hit`: the exact key; `partial`: a restore key (another lockfile, the base branch) */
  restore?: 'hit' | 'partial' | 'miss' | 'unavailable';
  matchedKey?: string;
  saved?: boolean;
}

/**
 * The worker's file: its own bundle beside the action's (dist/cache-worker/index.js), or the
 * source when running under tsx. A path, not `new URL('…', import.meta.url)`, which the bundler
 * would take for an asset of its own to copy.
 */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  return join(dirname(here), ...(fromSource ? ['cache-worker.ts'] : ['cache-worker', 'index.js']));
}

/** One cache call in a worker thread; resolves once the worker has exited (its output flushed). */
function inWorker(op: CacheOp, plan: CachePlan): Promise<CacheCallResult> {
  return new Promise((resolve) => {
    let result: CacheCallResult | undefined;
    const worker = new Worker(workerFile(), { workerData: { op, plan } });
    worker.on('message', (message: CacheCallResult) => {
      result = message;
    });
    worker.on('error', (error) => {
      result ??= { unavailable: false, warnings: [], error: error.message };
    });
    worker.on('exit', (code) =>
      resolve(
        result ?? {
          unavailable: false,
          warnings: [],
          error: `the cache worker exited with ${code}`,
        },
      ),
    );
  });
}

export function actionBuildCache(plan: CachePlan): BuildCache & { report: CacheReport } {
  const report: CacheReport = {};
  return {
    report,
    async restore() {
      const call = await inWorker('restore', plan);
      if (call.unavailable) {
        report.restore = 'unavailable';
        return unavailable('restored');
      }
      return restored(plan, call, report);
    },
    async save() {
      if (report.restore === 'hit') return { detail: `${plan.key} is cached as it is` };
      // The client retries a failing service for about half a minute per call: a service that
      // failed the restore is not asked again in the same run.
      if (report.restore === 'unavailable') return { detail: 'skipped: the cache service failed' };
      const call = await inWorker('save', plan);
      if (call.unavailable) return unavailable('saved');
      report.saved = call.value !== undefined;
      if (report.saved) return { detail: `saved as ${plan.key}` };
      const why = [...call.warnings, ...(call.error ? [call.error] : [])];
      return why.length > 0
        ? { detail: 'not saved', warning: `the build cache was not saved: ${why.join('; ')}` }
        : { detail: `not saved: another run saved ${plan.key} first` };
    },
  };
}

function restored(plan: CachePlan, call: CacheCallResult, report: CacheReport): CacheOutcome {
  const matched = call.value;
  if (matched !== undefined) {
    report.restore = matched === plan.key ? 'hit' : 'partial';
    report.matchedKey = matched;
    return { detail: `${report.restore === 'hit' ? 'hit' : 'restored from'} ${matched}` };
  }
  const why = [...call.warnings, ...(call.error ? [call.error] : [])];
  if (why.length > 0) {
    report.restore = 'unavailable';
    return {
      detail: 'unavailable',
      warning: `the build cache could not be restored (${why.join('; ')}); building cold`,
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
