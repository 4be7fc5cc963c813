/** Where the harness keeps things on this machine, and the names it gives each host. */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Build cache (tarball + test key): survives reboots, safe to cache in CI. */
export function cacheDir(): string {
  return process.env.TOSS_TESTHOST_CACHE ?? join(homedir(), '.cache', 'toss-testhost');
}

/** Extracted read-only lower dirs: big, root-owned, kept out of the CI-cacheable dir. */
export function lowerRoot(): string {
  return process.env.TOSS_TESTHOST_LOWER ?? '/var/tmp/toss-testhost';
}

/** Leases and per-host state (overlay upper/work/merged): gone after a reboot, like the hosts. */
export function runRoot(): string {
  return process.env.TOSS_TESTHOST_RUN ?? '/run/toss-testhost';
}

export const MAX_INDEX = 254;

export function hostNames(index: number) {
  const name = `toss-h${index}`;
  return {
    name,
    netns: name,
    hostVeth: `ve-${name}`,
    guestIf: 'eth0',
    hostAddr: `10.213.${index}.1`,
    guestAddr: `10.213.${index}.2`,
    dir: join(runRoot(), `h${index}`),
  };
}
