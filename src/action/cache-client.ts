/**
 * The calls to `@actions/cache`, as the cache worker makes them (cache-worker.ts): restore or
 * save one plan, and the warnings the client printed meanwhile. The client reports a failure with
 * `core.warning` and returns as if nothing was found; the warnings say why.
 */
import * as cache from '@actions/cache';
import type { CachePlan } from './cache-plan.js';

export type CacheOp = 'restore' | 'save';

export interface CacheCallResult {
  /** the client has no cache service to talk to (ACTIONS_RESULTS_URL, ACTIONS_CACHE_URL unset) */
  unavailable: boolean;
  /** restore: the key that matched; save: the entry's id as a string, or undefined for -1 */
  value?: string | undefined;
  warnings: string[];
  /** an error the client threw (it throws only for bad arguments) */
  error?: string | undefined;
}

export async function callCache(op: CacheOp, plan: CachePlan): Promise<CacheCallResult> {
  if (!cache.isFeatureAvailable()) return { unavailable: true, warnings: [] };
  const warnings: string[] = [];
  const stop = watchWarnings(warnings);
  try {
    const value =
      op === 'restore'
        ? await cache.restoreCache([...plan.paths], plan.key, [...plan.restoreKeys])
        : await cache
            .saveCache([...plan.paths], plan.key)
            .then((id) => (id === -1 ? undefined : String(id)));
    return { unavailable: false, value, warnings };
  } catch (error) {
    return { unavailable: false, warnings, error: (error as Error).message ?? String(error) };
  } finally {
    stop();
  }
}

/**
 * Notes the `::warning::` lines written to this thread's stdout until the returned function is
 * called; the lines still go out as they are.
 */
function watchWarnings(warnings: string[]): () => void {
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
  return () => {
    process.stdout.write = write;
  };
}
