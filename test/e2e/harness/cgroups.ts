/**
 * Cgroup set-up for systemd-nspawn. With systemd as PID 1 nspawn gets its own scope and needs
 * nothing from us. Without it (hybrid v1/v2 VM) nspawn needs --keep-unit and each container a
 * cgroup of its own, or same-named units in two hosts collide.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { killQuiet, sleepSync } from './proc.js';

const ROOT = '/sys/fs/cgroup';

export interface CgroupPlan {
  keepUnit: boolean;
  /** cgroup dirs to create and move nspawn into before it starts */
  dirs: string[];
  /** files to write once the dirs exist, before nspawn is moved in (the host's memory limit) */
  writes: Array<{ path: string; value: string }>;
  /** more systemd-nspawn options (the memory limit of its scope, with systemd as PID 1) */
  nspawnArgs: string[];
}

export interface CgroupOptions {
  /** the whole host's memory limit, bytes: it sees it as its own cgroup's limit */
  memoryLimitBytes?: number | undefined;
}

/** "2G", "512M", "1073741824": bytes (K, M and G are powers of 1024). */
export function parseMemoryLimit(text: string): number {
  const match = /^([1-9][0-9]*)([KMG]?)$/.exec(text);
  if (match === null)
    throw new Error(`memoryLimit: expected a size like "2G" or "512M", got ${text}`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2] as '' | 'K' | 'M' | 'G'];
  return Number(match[1]) * unit;
}

export function systemdIsPid1(): boolean {
  try {
    return (
      existsSync('/run/systemd/system') && readFileSync('/proc/1/comm', 'utf8').trim() === 'systemd'
    );
  } catch {
    return false;
  }
}

export function cgroupPlan(name: string, options: CgroupOptions = {}): CgroupPlan {
  const limit = options.memoryLimitBytes;
  if (systemdIsPid1()) {
    // nspawn runs in a scope of its own, which takes the limit as a unit property (untested here).
    const nspawnArgs = limit === undefined ? [] : [`--property=MemoryMax=${limit}`];
    return { keepUnit: false, dirs: [], writes: [], nspawnArgs };
  }
  // Pure cgroup v2 mounted at the root (untested here), else the hybrid named + unified hierarchies.
  if (existsSync(join(ROOT, 'cgroup.controllers'))) {
    const dir = join(ROOT, name);
    const writes =
      limit === undefined ? [] : [{ path: join(dir, 'memory.max'), value: `${limit}` }];
    return { keepUnit: true, dirs: [dir], writes, nspawnArgs: [] };
  }
  const dirs = ['systemd', 'unified']
    .filter((h) => existsSync(join(ROOT, h, 'cgroup.procs')))
    .map((h) => join(ROOT, h, name));
  if (limit === undefined) return { keepUnit: true, dirs, writes: [], nspawnArgs: [] };
  const memory = v1MemoryDir(name);
  return {
    keepUnit: true,
    dirs: [...dirs, memory],
    writes: [{ path: join(memory, 'memory.limit_in_bytes'), value: `${limit}` }],
    nspawnArgs: [],
  };
}

/**
 * The host's cgroup on the v1 memory hierarchy: a child of the one this process is in, so
 * whatever bounds this process bounds the host too, and the host, in its own cgroup namespace,
 * sees this cgroup's limit as its own.
 */
function v1MemoryDir(name: string): string {
  const hierarchy = join(ROOT, 'memory');
  if (!existsSync(join(hierarchy, 'cgroup.procs'))) {
    throw new Error('memoryLimit needs the cgroup v1 memory hierarchy at /sys/fs/cgroup/memory');
  }
  const own = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[1]?.split(',').includes('memory'))?.[2];
  return join(hierarchy, own ?? '/', name);
}

/** Remove a cgroup tree leaves first (cgroupfs allows only rmdir), killing anything left inside. */
export function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(join(dir, entry.name));
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY') throw e;
    }
    try {
      for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
        if (pid) killQuiet(Number(pid), 'SIGKILL');
      }
    } catch {
      // gone meanwhile
    }
    sleepSync(100);
  }
  throw new Error(`cannot remove cgroup ${dir}: still busy`);
}
