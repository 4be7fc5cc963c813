/**
 * vitest globalSetup for the e2e project: the machine must be able to run test hosts, and the
 * rootfs is built (once, cached) before any worker boots one. Missing prerequisites fail the run.
 */
import { checkPrerequisites, ensureRootfs, sweepStale } from './harness/index.js';

export default async function setup(): Promise<() => Promise<void>> {
  checkPrerequisites();
  // Hosts left by a crashed or killed earlier run would hold indexes and memory.
  await sweepStale();
  await ensureRootfs();
  // Workers that were killed outright could not tear their hosts down themselves.
  return async () => {
    await sweepStale();
  };
}
