import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { HealthCheck } from '../config/schema.js';
import { healthCheckArgv } from '../server/health.js';
import { envPaths } from '../server/paths.js';
import { journalArgv } from '../server/systemctl.js';
import type { Session } from './session.js';

const JOURNAL_TAIL = 30;

/**
 * Waits for a new instance to answer (healthCheck, or a TCP connect). Healthy: undefined;
 * otherwise what the check said and the last lines of the instance's journal.
 */
export async function checkInstanceHealth(
  session: Session,
  params: { app: string; environment: string; port: number; healthCheck?: HealthCheck | undefined },
): Promise<string | undefined> {
  const { app, environment, port, healthCheck } = params;
  const result = await session.root(
    healthCheckArgv({ port, path: healthCheck?.path, timeoutSec: healthCheck?.timeout ?? 30 }),
    { allowFailure: true },
  );
  if (result.code === 0) return undefined;
  const journal = await session.root(journalArgv({ app, environment, port, lines: JOURNAL_TAIL }), {
    allowFailure: true,
  });
  const unit = envPaths(app, environment).instanceUnit(port);
  return `${result.stderr.trim()}\n--- last ${JOURNAL_TAIL} lines of ${unit} ---\n${journal.stdout.trim()}`;
}

/** The server's IP address, for sslip.io names; undefined when the name does not resolve here. */
export async function serverAddress(host: string): Promise<string | undefined> {
  if (isIP(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch {
    return undefined;
  }
}
