/** A cross-process lock from mkdir (atomic everywhere); a holder that died is broken safely. */
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive, type ProcId, procId, sleep } from './proc.js';

// A lock dir without an owner file this old belongs to a process that died between the two steps.
const ORPHAN_MS = 10_000;

function tryBreak(dir: string): void {
  let owner: ProcId | undefined;
  try {
    owner = JSON.parse(readFileSync(join(dir, 'owner'), 'utf8')) as ProcId;
  } catch {
    try {
      if (Date.now() - statSync(dir).mtimeMs < ORPHAN_MS) return;
    } catch {
      return;
    }
  }
  if (owner && isAlive(owner)) return;
  // Rename first: only one breaker wins, and nobody deletes a lock re-taken in between.
  const grave = `${dir}.dead-${process.pid}-${Date.now()}`;
  try {
    renameSync(dir, grave);
  } catch {
    return;
  }
  rmSync(grave, { recursive: true, force: true });
}

export async function withDirLock<T>(
  dir: string,
  fn: () => Promise<T>,
  options: { timeoutMs?: number; onWait?: () => void } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15 * 60_000);
  let told = false;
  for (;;) {
    try {
      mkdirSync(dir);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    tryBreak(dir);
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${dir}`);
    if (!told) options.onWait?.();
    told = true;
    await sleep(200);
  }
  writeFileSync(join(dir, 'owner'), JSON.stringify(procId(process.pid)));
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
