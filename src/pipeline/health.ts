import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { HealthCheck } from '../config/schema.js';
import { RemoteCommandError, TossError } from '../errors.js';
import { shellJoin } from '../remote/quote.js';
import { healthCheckArgv } from '../server/health.js';
import { envPaths } from '../server/paths.js';
import {
  describeListener,
  PORT_NOT_OURS_EXIT,
  PORT_TAKEN_EXIT,
  parseForeignListeners,
  parseUnitListeners,
  portGuardArgv,
  type UnitListener,
  unitListenersArgv,
} from '../server/port-owner.js';
import { journalArgv } from '../server/systemctl.js';
import { diagnoseHealthFailure } from './failure-hints.js';
import type { Server } from './server.js';

/** Journal lines shown in the error. */
const JOURNAL_TAIL = 30;
/** Journal lines read for the cause: a crash loop repeats itself, a stack trace is long. */
const JOURNAL_READ = 100;

/** A new instance that did not answer: what the server showed when the check gave up. */
export interface HealthFailure {
  unit: string;
  port: number;
  /** what the check said, like `toss: nothing accepted a connection on 127.0.0.1:3001 within 30 s` */
  check: string;
  /** the instance's journal (its last lines) since this release was pointed at its port */
  journal: string;
  /** what the instance's processes listened on then */
  listeners: UnitListener[];
}

/**
 * One command: the instance on `port` passes its health check within `timeoutSec`, and what
 * answered is that instance (not a squatter on its port). Exit 0 only then.
 */
export function answersAsInstanceArgv(
  unit: string,
  port: number,
  path: string | undefined,
  timeoutSec: number,
): string[] {
  const check = healthCheckArgv({ port, path, timeoutSec });
  return ['sh', '-c', `${shellJoin(check)} && ${shellJoin(portGuardArgv('owned', port, unit))}`];
}

/**
 * Waits for a new instance to answer (healthCheck, or a TCP connect). Healthy: undefined;
 * otherwise what the check said, what the instance listened on and the last lines of its journal.
 * An answer from a process that is not the instance (a squatter on its port) is no answer: that
 * throws, naming it.
 */
export async function checkInstanceHealth(
  session: Server,
  params: { app: string; environment: string; port: number; healthCheck?: HealthCheck | undefined },
): Promise<HealthFailure | undefined> {
  const { app, environment, port, healthCheck } = params;
  const paths = envPaths(app, environment);
  const unit = paths.instanceUnit(port);
  // One round trip: the check, then (only once it passed) who answered it; or, once it failed,
  // what the instance listened on and when its slot was pointed at this release (stderr).
  const check = healthCheckArgv({
    port,
    path: healthCheck?.path,
    timeoutSec: healthCheck?.timeout ?? 30,
  });
  const listeners = unitListenersArgv(unit);
  const pointedAt = ['stat', '-c', 'pointed %Y', '--', paths.slotLink(port)];
  const owner = portGuardArgv('owned', port, unit);
  const result = await session.root(
    [
      'sh',
      '-c',
      `${shellJoin(check)} || { ${shellJoin(listeners)} >&2; ${shellJoin(pointedAt)} >&2 2>/dev/null; exit 1; }\n${shellJoin(owner)}`,
    ],
    { allowFailure: true },
  );
  if (result.code === 0) return undefined;
  if (result.code === PORT_TAKEN_EXIT || result.code === PORT_NOT_OURS_EXIT) {
    // The check passed, but not thanks to the instance: it must never get traffic.
    throw portError(app, environment, port, result.code, result.stderr);
  }
  const journal = await session.root(journalArgv({ paths, port, lines: JOURNAL_READ }), {
    allowFailure: true,
  });
  const pointed = /^pointed ([0-9]+)$/m.exec(result.stderr)?.[1];
  const said = result.stderr
    .split('\n')
    .filter((line) => !/^(?:listener|pointed) /.test(line))
    .join('\n');
  return {
    unit,
    port,
    check: said.trim(),
    journal: journalSince(journal.stdout, pointed === undefined ? undefined : Number(pointed)),
    listeners: parseUnitListeners(result.stderr),
  };
}

// short-iso's time: `2025-03-01T10:00:00+0000`.
const JOURNAL_TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:[.,]\d+)?(?:Z|([+-]\d\d):?(\d\d))\s/;

/**
 * The journal's lines from `since` (seconds since the epoch) on. The same port serves every other
 * release, so the unit's journal before its slot was pointed at this release is an earlier
 * release's, whose errors would be the wrong ones to report. (journalctl's own --since would
 * give the first lines after it, not the last.) A line without a time goes with the one before.
 */
/** How long a worker must keep running after its start to count as up. */
export const WORKER_SETTLE_SECONDS = 3;

/**
 * A worker (fleet.ts) serves nothing to ask: it is up when its unit is still active, never
 * restarted, a few seconds after it started.
 */
export async function checkWorkerRunning(
  session: Server,
  params: { app: string; environment: string; port: number },
): Promise<HealthFailure | undefined> {
  const { app, environment, port } = params;
  const paths = envPaths(app, environment);
  const unit = paths.instanceUnit(port);
  await session.root(['sleep', String(WORKER_SETTLE_SECONDS)]);
  const shown = await session.root(
    ['systemctl', 'show', '--property=ActiveState,SubState,NRestarts', '--', unit],
    { allowFailure: true },
  );
  const field = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(shown.stdout)?.[1];
  const state = field('ActiveState');
  const restarts = field('NRestarts') ?? '0';
  if (state === 'active' && restarts === '0') return undefined;
  const journal = await session.root(journalArgv({ paths, port, lines: JOURNAL_READ }), {
    allowFailure: true,
  });
  return {
    unit,
    port,
    check: `toss: the worker did not keep running for ${WORKER_SETTLE_SECONDS} s (${state ?? 'unknown'}/${field('SubState') ?? '?'}, restarted ${restarts} times)`,
    journal: journalSince(journal.stdout, undefined),
    listeners: [],
  };
}

export function journalSince(journal: string, since: number | undefined): string {
  const lines = journal.trim().split('\n');
  if (since === undefined) return lines.join('\n');
  let keep = true;
  return lines
    .filter((line) => {
      const m = JOURNAL_TIME.exec(line);
      if (m) {
        const offset = m[2] === undefined ? 'Z' : `${m[2]}:${m[3]}`;
        keep = !(Date.parse(`${m[1]}${offset}`) < since * 1000);
      }
      return keep;
    })
    .join('\n');
}

/**
 * A failed check as users read it: why, when the journal or the listeners show it (see
 * failure-hints.ts), then what the check said and the journal's tail; and what to do about it.
 * `readOnly`: toss.json's, which decides where the app may write.
 */
export function explainHealthFailure(
  failure: HealthFailure,
  options: { readOnly: boolean },
): { details: string; fix: string } {
  const { cause, fix } = diagnoseHealthFailure({
    journal: failure.journal,
    listeners: failure.listeners,
    port: failure.port,
    readOnly: options.readOnly,
  });
  const details = [
    `${cause}.`,
    failure.check,
    `--- last ${JOURNAL_TAIL} lines of ${failure.unit} ---`,
    failure.journal.split('\n').slice(-JOURNAL_TAIL).join('\n'),
  ];
  return { details: details.filter((line) => line !== '').join('\n'), fix };
}

/**
 * Runs a step whose argv includes a port guard (portGuardArgv 'free'), turning the guard's refusal
 * into an error that names the squatter.
 */
export async function withPortGuard<T>(
  target: { app: string; environment: string; port: number },
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof RemoteCommandError && error.exitCode === PORT_TAKEN_EXIT) {
      throw portError(
        target.app,
        target.environment,
        target.port,
        PORT_TAKEN_EXIT,
        error.outputTail,
      );
    }
    throw error;
  }
}

function portError(
  app: string,
  environment: string,
  port: number,
  code: number,
  stderr: string,
): TossError {
  const unit = envPaths(app, environment).instanceUnit(port);
  const squatters = parseForeignListeners(stderr).map(describeListener);
  if (code === PORT_NOT_OURS_EXIT || squatters.length === 0) {
    return new TossError(
      `port ${port} answered the health check, but ${unit} was not listening on it any more; the new release never received traffic`,
      { hint: `check \`journalctl -u ${unit}\` on the server, then deploy again` },
    );
  }
  return new TossError(
    `port ${port}, which toss gave ${app}/${environment}, is taken by ${squatters.join('; ')}; the new release did not get it and never received traffic; what was live keeps serving`,
    {
      hint: `nothing but toss's ${unit} may listen on it: stop that process on the server (as root), find out how it got there, then deploy again`,
    },
  );
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
