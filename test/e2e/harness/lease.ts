/**
 * Host indexes are leased with mkdir under a run dir, so vitest workers and the CLI never pick the
 * same N. A lease records everything its teardown needs; a lease whose owner died is reclaimed.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { removeCgroupTree } from './cgroups.js';
import { withDirLock } from './dir-lock.js';
import { teardownNetworkSync } from './network.js';
import { hostNames, MAX_INDEX, runRoot } from './paths.js';
import { isAlive, killQuiet, type ProcId, procId, runSync, sleep, sleepSync } from './proc.js';

export interface Lease {
  index: number;
  dir: string;
  /** the process that booted the host; when it dies the host is an orphan */
  owner: ProcId;
  nspawn?: ProcId;
  /** the host's PID 1 (systemd), as seen from this machine */
  init?: ProcId;
  cgroups: string[];
  merged: string;
}

export function writeLease(lease: Lease): void {
  const tmp = join(lease.dir, `.lease.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(lease, null, 2));
  renameSync(tmp, join(lease.dir, 'lease.json'));
}

export function readLease(dir: string): Lease | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'lease.json'), 'utf8')) as Lease;
  } catch {
    return undefined;
  }
}

export function listLeaseDirs(): { index: number; dir: string }[] {
  if (!existsSync(runRoot())) return [];
  return readdirSync(runRoot())
    .map((name) => /^h(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ index: Number(m[1]), dir: join(runRoot(), m[0]) }));
}

function isMounted(path: string): boolean {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  return mounts.split('\n').some((l) => l.split(' ')[4] === path);
}

/** Everything after the host's processes are gone: mount, network, cgroups, the lease itself. */
export function cleanupSync(lease: Lease): void {
  // Killing the container's PID 1 kills its whole PID namespace (nspawn alone would orphan it).
  if (isAlive(lease.init)) killQuiet(lease.init?.pid, 'SIGKILL');
  if (isAlive(lease.nspawn)) killQuiet(lease.nspawn?.pid, 'SIGKILL');
  for (let i = 0; i < 50 && (isAlive(lease.init) || isAlive(lease.nspawn)); i++) sleepSync(100);
  for (let i = 0; i < 20 && isMounted(lease.merged); i++) {
    if (runSync(['umount', lease.merged]).code === 0) break;
    sleepSync(100);
  }
  if (isMounted(lease.merged)) runSync(['umount', '--lazy', lease.merged]);
  teardownNetworkSync(lease.index);
  for (const dir of lease.cgroups) removeCgroupTree(dir);
  rmSync(lease.dir, { recursive: true, force: true });
}

async function waitDead(ids: (ProcId | undefined)[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (ids.some(isAlive)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** Clean poweroff (SIGTERM to nspawn), kill after 10 s, then clean up. */
export async function stopLease(lease: Lease): Promise<void> {
  if (isAlive(lease.nspawn)) {
    killQuiet(lease.nspawn?.pid, 'SIGTERM');
    await waitDead([lease.nspawn, lease.init], 10_000);
  }
  cleanupSync(lease);
}

/** Synchronous stop of many leases at once, for process.on('exit'). */
export function stopLeasesSync(leases: Lease[]): void {
  for (const l of leases) if (isAlive(l.nspawn)) killQuiet(l.nspawn?.pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && leases.some((l) => isAlive(l.nspawn) || isAlive(l.init))) {
    sleepSync(50);
  }
  for (const l of leases) cleanupSync(l);
}

function ownerAlive(dir: string): boolean {
  const lease = readLease(dir);
  if (lease) return isAlive(lease.owner);
  // lease.json is written right after mkdir: a dir without one is young, or its owner died.
  try {
    return Date.now() - statSync(dir).mtimeMs < 10_000;
  } catch {
    return false;
  }
}

async function reclaim(index: number, dir: string): Promise<void> {
  const lease = readLease(dir) ?? {
    index,
    dir,
    owner: { pid: 0, start: '' },
    cgroups: [],
    merged: join(dir, 'merged'),
  };
  console.warn(
    `toss-testhost: reclaiming stale host ${hostNames(index).name} (owner pid ${lease.owner.pid} is gone)`,
  );
  await stopLease({ ...lease, dir });
}

/** Reclaim every lease whose owner process is gone (crashed or SIGKILLed runs). */
export async function sweepStale(): Promise<void> {
  mkdirSync(runRoot(), { recursive: true });
  await withDirLock(join(runRoot(), '.lock'), async () => {
    for (const { index, dir } of listLeaseDirs()) {
      if (!ownerAlive(dir)) await reclaim(index, dir);
    }
  });
}

/** Take index `want`, or the lowest free one. Stale leases are reclaimed first. */
export async function allocateLease(want?: number): Promise<Lease> {
  mkdirSync(runRoot(), { recursive: true });
  return withDirLock(join(runRoot(), '.lock'), async () => {
    const candidates =
      want === undefined ? Array.from({ length: MAX_INDEX }, (_, i) => i + 1) : [want];
    for (const index of candidates) {
      const { dir } = hostNames(index);
      if (existsSync(dir)) {
        if (ownerAlive(dir)) continue;
        await reclaim(index, dir);
      }
      mkdirSync(dir);
      const lease: Lease = {
        index,
        dir,
        owner: procId(process.pid) as ProcId,
        cgroups: [],
        merged: join(dir, 'merged'),
      };
      writeLease(lease);
      return lease;
    }
    if (want !== undefined) {
      const owner = readLease(hostNames(want).dir)?.owner.pid;
      throw new Error(`toss-testhost: host index ${want} is in use (by pid ${owner ?? '?'})`);
    }
    throw new Error(`toss-testhost: all ${MAX_INDEX} host indexes are in use`);
  });
}
