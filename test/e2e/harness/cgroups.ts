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

export function cgroupPlan(name: string): CgroupPlan {
  if (systemdIsPid1()) return { keepUnit: false, dirs: [] };
  // Pure cgroup v2 mounted at the root (untested here), else the hybrid named + unified hierarchies.
  if (existsSync(join(ROOT, 'cgroup.controllers'))) {
    return { keepUnit: true, dirs: [join(ROOT, name)] };
  }
  const dirs = ['systemd', 'unified']
    .filter((h) => existsSync(join(ROOT, h, 'cgroup.procs')))
    .map((h) => join(ROOT, h, name));
  return { keepUnit: true, dirs };
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
