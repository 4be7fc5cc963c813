/**
 * This machine's identity for the deploy lock (see machineIdentity in src/server/lock.ts): the
 * lock's dead-process rule applies only to a lock taken under the same identity.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { machineIdentity } from '../server/lock.js';

const MACHINE_ID_FILES = ['/etc/machine-id', '/var/lib/dbus/machine-id'];
const ID = /^[0-9a-f]{32}$/;

let cached: string | undefined;

/** This machine's identity, the same for every run here until it reboots. */
export function machineId(): string {
  cached ??= machineIdentity({
    machineId: systemMachineId() ?? configMachineId(),
    bootId: readTrimmed('/proc/sys/kernel/random/boot_id'),
    pidNamespace: readLink('/proc/self/ns/pid'),
  });
  return cached;
}

function systemMachineId(): string | undefined {
  for (const file of MACHINE_ID_FILES) {
    const id = readTrimmed(file);
    // An empty or "uninitialized" machine-id (a fresh image) identifies nothing.
    if (id !== undefined && ID.test(id)) return id;
  }
  return undefined;
}

/**
 * Without a machine-id (macOS, some containers): a random id kept in the user's config directory,
 * made on first use. If it cannot be kept, this process's own random id: then no other run is
 * ever taken for this machine's, and its locks go by their heartbeat alone.
 */
function configMachineId(): string {
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  const file = join(base, 'toss', 'machine-id');
  const kept = readTrimmed(file);
  if (kept !== undefined && ID.test(kept)) return kept;
  const fresh = randomBytes(16).toString('hex');
  try {
    mkdirSync(join(base, 'toss'), { recursive: true, mode: 0o700 });
    // `wx`: two first runs at once keep whichever id was written first.
    writeFileSync(file, `${fresh}\n`, { mode: 0o600, flag: 'wx' });
    return fresh;
  } catch {
    const other = readTrimmed(file);
    return other !== undefined && ID.test(other) ? other : fresh;
  }
}

function readTrimmed(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function readLink(file: string): string | undefined {
  try {
    return readlinkSync(file);
  } catch {
    return undefined;
  }
}
