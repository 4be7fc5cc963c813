import { prNumberOf } from '../config/env-name.js';
import type { EventSink } from './events.js';
import { remove } from './remove.js';
import type { TargetRequest } from './request.js';
import { openServer } from './session.js';

export interface SweepRequest extends Omit<TargetRequest, 'environment'> {
  /** whether pull request n is closed; undefined when unknown (then it is kept) */
  isClosed: (pr: number) => Promise<boolean | undefined>;
  /** an environment the current run just deployed: never swept */
  keep?: string | undefined;
}

/** Removes previews whose pull request is closed, so a lost `closed` event leaks nothing. */
export async function sweepClosedPreviews(
  request: SweepRequest,
  sink: EventSink,
): Promise<string[]> {
  const session = await openServer(request, request.config.app);
  let candidates: Array<[string, number]>;
  try {
    const state = await session.readState();
    candidates = Object.entries(state?.environments ?? {})
      .map(([name, env]): [string, number | undefined] => [name, env.pr ?? prNumberOf(name)])
      .filter((c): c is [string, number] => c[1] !== undefined && c[0] !== request.keep);
  } finally {
    await session.close();
  }
  const removed: string[] = [];
  for (const [environment, pr] of candidates) {
    if ((await request.isClosed(pr)) !== true) continue;
    sink({
      type: 'notice',
      message: `sweep: pull request #${pr} is closed, removing ${environment}`,
    });
    const result = await remove({ ...request, environment, force: false }, sink);
    if (result.removed) removed.push(environment);
  }
  return removed;
}
