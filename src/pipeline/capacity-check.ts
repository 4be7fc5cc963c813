/**
 * The memory check before a preview starts: refused when the server would keep less than
 * production's floor (toss.json `previews.memoryFloor`) once the preview grows to its limit.
 * Production and static sites (no process of their own) are never checked.
 */
import type { TossConfig } from '../config/schema.js';
import {
  awakePreviews,
  capacityProblem,
  memoryArgv,
  parseMemory,
  sizeBytes,
} from '../server/capacity.js';
import type { EnvPaths } from '../server/paths.js';
import { environmentLimits } from '../server/policy.js';
import { appMemoryLimit, DEFAULT_PREVIEW_MEMORY } from '../server/systemd-unit.js';
import type { Server } from './server.js';

/**
 * Throws the refusal (a TossError saying what is available, the floor, the preview's limit and
 * the previews using most) when `env` is a preview that may not start now. `config` is the
 * trusted configuration (policy.ts), so the floor and the limit are production's.
 */
export async function assertMemoryForPreview(
  server: Server,
  config: TossConfig,
  env: EnvPaths,
): Promise<void> {
  if (env.isProduction || config.static !== undefined) return;
  const floor = sizeBytes(config.previews.memoryFloor) ?? 0;
  if (floor === 0) return;
  const [measured, registry] = await Promise.all([
    server.root(memoryArgv()),
    server.readRegistry(),
  ]);
  const memory = parseMemory(measured.stdout);
  const problem = capacityProblem({
    environment: env.environment,
    available: memory.availableBytes,
    floor,
    need: previewNeed(config, env, memory.totalBytes),
    awake: awakePreviews(memory.units, registry),
    source: memory.source,
  });
  if (problem !== undefined) throw problem;
}

/** What the preview may take: the MemoryMax= its unit gets ("infinity": the default's worth). */
export function previewNeed(config: TossConfig, env: EnvPaths, totalBytes?: number): number {
  const limit = appMemoryLimit(env.isProduction, environmentLimits(config, env.environment).memory);
  const fallback = sizeBytes(DEFAULT_PREVIEW_MEMORY) as number;
  if (limit === undefined || (limit.endsWith('%') && totalBytes === undefined)) return fallback;
  return sizeBytes(limit, totalBytes) ?? fallback;
}
