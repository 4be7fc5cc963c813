/** Two ports per environment (live and idle): the lowest free pair from 3000 up. */
import { TossError } from '../errors.js';
import type { Registry } from './registry.js';

export const FIRST_PORT = 3000;
const LAST_PORT = 65535;

/** Every port the registry has handed out, to any app. */
export function registeredPorts(registry: Registry): Set<number> {
  const ports = new Set<number>();
  for (const app of Object.values(registry.apps)) {
    for (const env of Object.values(app.environments)) for (const p of env.ports) ports.add(p);
  }
  return ports;
}

/** The lowest `[n, n + 1]`, n ≥ 3000, that is neither registered nor listened on. */
export function choosePorts(
  registry: Registry,
  listeningPorts: ReadonlySet<number>,
  from = FIRST_PORT,
): [number, number] {
  const taken = registeredPorts(registry);
  const free = (p: number) => !taken.has(p) && !listeningPorts.has(p);
  for (let p = from; p < LAST_PORT; p++) {
    if (free(p) && free(p + 1)) return [p, p + 1];
  }
  throw new TossError(`no two free ports from ${from} up on this server`);
}

/** TCP ports something listens on, one socket a line, no header. */
export function listeningPortsArgv(): string[] {
  return ['ss', '--no-header', '--tcp', '--listening', '--numeric'];
}

/**
 * Parses `ss -Htln` lines (`LISTEN 0 4096 127.0.0.1:3000 0.0.0.0:*`, `… [::]:22 …`,
 * `… 127.0.0.53%lo:53 …`, `… *:80 …`): the fourth column's port.
 */
export function parseListeningPorts(output: string): Set<number> {
  const ports = new Set<number>();
  for (const line of output.split('\n')) {
    const local = line.trim().split(/\s+/)[3];
    const match = local === undefined ? null : /:(\d+)$/.exec(local);
    if (match) ports.add(Number(match[1]));
  }
  return ports;
}
