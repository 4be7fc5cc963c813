/**
 * PostgreSQL in a test host (Debian 12's postgresql, cluster 15/main). The default image has it
 * installed but not started at boot (its start.conf says manual: most tests never use it, and it
 * slowed every boot): a test that does calls waitForPostgres first, which starts it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestHost } from '../harness/types.js';

/** Debian's unix_socket_directories and default port: where DATABASE_URL points. */
export const PG_SOCKET_DIR = '/var/run/postgresql';
export const PG_PORT = '5432';

/** Starts the host's PostgreSQL and waits until it accepts connections on its socket (`pg_isready`). */
export async function waitForPostgres(host: TestHost, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  const ready = await host.exec(['pg_isready', '-q', '-h', PG_SOCKET_DIR, '-p', PG_PORT]);
  if (ready.code !== 0) await host.exec(['systemctl', 'start', 'postgresql@15-main']);
  for (;;) {
    const r = await host.exec(['pg_isready', '-h', PG_SOCKET_DIR, '-p', PG_PORT]);
    if (r.code === 0) return;
    if (Date.now() - started > timeoutMs) {
      const clusters = await host.exec(['pg_lsclusters']);
      throw new Error(
        `PostgreSQL on ${host.name} is not ready after ${timeoutMs} ms: pg_isready exited ${r.code} ${r.stdout.trim()}${r.stderr.trim()}\n${clusters.stdout}${clusters.stderr}`,
      );
    }
    await sleep(200);
  }
}

/**
 * psql inside the host as the OS user `user` (peer authentication: the role of the same name),
 * unaligned and tuples only; the SQL on stdin. The exit code is returned, not thrown.
 */
export function psqlAs(
  host: TestHost,
  user: string,
  sql: string,
  database = 'postgres',
): Promise<{ stdout: string; stderr: string; code: number }> {
  const psql = ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', database, '-f', '-'];
  return host.exec(['runuser', '-u', user, '--', ...psql], { input: sql });
}
