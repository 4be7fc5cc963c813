/** Text for `toss list`, `toss status`, `toss releases` and `toss lock status`. Pure. */
import type { AppListing, AppStatus, EnvironmentListing, LockStatus } from '../pipeline/inspect.js';
import type { KeptRelease } from '../pipeline/rollback.js';
import { humanizeDuration } from '../server/lock.js';
import { type Column, renderTable } from './table.js';

function ago(iso: string, now: Date): string {
  return `${humanizeDuration(now.getTime() - Date.parse(iso))} ago`;
}

// The URL is what people come to `toss list` for, to open or paste: it is never cut nor dropped,
// and neither is the environment's name, which says whose URL it is. When the terminal is too
// narrow, the other columns go in this order:
//  1. RELEASE: the widest, and its timestamp repeats DEPLOYED; `toss releases` lists the ids a
//     rollback needs.
//  2. PORT: the live instance's port matters only when reading its journal or probing it by hand.
//  3. BY: cut to a recognisable start first, then dropped: who deployed is seldom the question.
//  4. COMMIT: identifies what runs, but the age already tells an old deploy from a new one.
//  5. DEPLOYED: how old the deploy is.
//  6. SERVICE: last, because it is how a failed instance shows.
// `toss list --json` always has every field.
const LISTING_COLUMNS: Column[] = [
  { header: 'ENVIRONMENT' },
  { header: 'URL' },
  { header: 'PORT', dropOrder: 2 },
  { header: 'RELEASE', dropOrder: 1 },
  { header: 'COMMIT', dropOrder: 4 },
  { header: 'DEPLOYED', dropOrder: 5 },
  { header: 'BY', min: 12, dropOrder: 3 },
  { header: 'SERVICE', dropOrder: 6 },
];

/**
 * The environments' table, fitted to `maxWidth` columns (no limit by default) by dropping or
 * cutting other columns; URLs are always whole, even when one alone is wider.
 */
export function renderListing(
  environments: readonly EnvironmentListing[],
  now: Date,
  maxWidth = Number.POSITIVE_INFINITY,
): string {
  if (environments.length === 0) return 'no environments deployed yet (toss deploy production)';
  // An app with databases gets their names last, the first column to go when space is short.
  const databases = environments.some((e) => e.database !== null);
  return renderTable(
    databases ? [...LISTING_COLUMNS, { header: 'DATABASE', dropOrder: 0 }] : LISTING_COLUMNS,
    environments.map((e) => [
      e.name,
      e.url ?? '-',
      String(e.livePort),
      e.release,
      e.commit.slice(0, 7),
      ago(e.deployedAt, now),
      e.by,
      e.service,
      ...(databases ? [e.database ?? '-'] : []),
    ]),
    maxWidth,
  );
}

/** `toss list`: the table within `maxWidth` columns (the terminal's; no limit when piped). */
export function renderList(
  listing: AppListing,
  now = new Date(),
  maxWidth = Number.POSITIVE_INFINITY,
): string {
  const servers = (listing.servers ?? []).map((server) => {
    const runs = server.error ? `unreachable: ${server.error}` : (server.release ?? 'no release');
    const drift = server.release !== listing.servers?.[0]?.release ? '  ← drift' : '';
    return `  ${server.name} (${server.role})  ${runs}${server.error ? '' : drift}`;
  });
  const fleet =
    servers.length > 0
      ? `\nproduction runs on ${servers.length} servers:\n${servers.join('\n')}\n`
      : '';
  return `${renderListing(listing.environments, now, maxWidth)}\n${fleet}`;
}

export function renderLock(lock: LockStatus | null, app: string): string {
  if (lock === null) return `${app} is not locked\n`;
  const lines = [
    `${app} is locked by ${lock.by} on ${lock.host} (pid ${lock.pid})`,
    `  machine:      ${lock.machine ?? 'unknown (taken by an older toss)'}`,
    `  environment:  ${lock.environment}`,
    `  since:        ${lock.startedAt}`,
    `  heartbeat:    ${lock.heartbeatAt ?? 'none'}`,
    `  run:          ${lock.runUrl ?? '-'}`,
    `  stale:        ${lock.stale ? 'yes (toss lock release drops it)' : 'no'}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** One line: what previews get, from production's recorded policy. */
function renderPreviewPolicy(policy: AppStatus['previewPolicy']): string {
  if (policy === null)
    return "toss's defaults until production is deployed (it records the policy)";
  const limits = [
    policy.memory === null ? undefined : `memory ${policy.memory}`,
    policy.cpu === null ? undefined : `cpu ${policy.cpu}`,
    `build ≤ ${policy.buildTimeout} s`,
  ].filter((x) => x !== undefined);
  return [
    `at most ${policy.maxPreviews}`,
    policy.previewDomain === null ? 'sslip.io names' : `under ${policy.previewDomain}`,
    policy.authUser === null ? 'no basic auth' : `basic auth (${policy.authUser})`,
    limits.join(', '),
    `(recorded by production ${policy.recordedBy})`,
  ].join('; ');
}

/** `toss status`; its table of environments fits `maxWidth` as `toss list`'s does. */
export function renderStatus(
  status: AppStatus,
  now = new Date(),
  maxWidth = Number.POSITIVE_INFINITY,
): string {
  const c = status.config;
  const out: string[] = [
    `app:        ${status.app}`,
    `server:     ${status.server}`,
    `origin:     ${status.origin ?? '-'}`,
    `domain:     ${c.domain ?? '(sslip.io names)'}${c.previewDomain ? `, previews under ${c.previewDomain}` : ''}, tls ${c.tls}`,
    c.static === null
      ? `start:      ${c.startCommand}`
      : `static:     ${c.static} (served by Caddy)`,
    `build:      ${c.deployScript.join(' && ') || '-'}`,
    `keep:       ${c.keepReleases} releases`,
    `previews:   ${renderPreviewPolicy(status.previewPolicy)}`,
    '',
    renderListing(status.environments, now, maxWidth),
    '',
    'overrides (keys only):',
    ...(status.environments.length === 0
      ? ['  -']
      : status.environments.map(
          (e) => `  ${e.name}: ${e.overrideKeys.length ? e.overrideKeys.join(', ') : '-'}`,
        )),
    `secrets:    production ${count(status.secrets.production)}, preview ${count(status.secrets.preview)}`,
    ...(status.databases === null || status.databases.length === 0
      ? []
      : [`databases:  ${status.databases.join(', ')}`]),
    '',
    renderLock(status.lock, status.app).trimEnd(),
    '',
    'dependencies:',
    ...(status.dependencies.length === 0
      ? ['  -']
      : status.dependencies.map(
          (d) =>
            `  ${d.name}: ${d.pending ? 'PENDING (next production deploy applies it)' : `applied ${d.appliedAt}`}`,
        )),
    '',
    ...(status.certificates === undefined ? [] : [...renderCertificates(status.certificates), '']),
    status.warnings.length === 0 ? 'no warnings' : `warnings (${status.warnings.length}):`,
    ...status.warnings.map((w) => `  ! ${w.message}\n    fix: ${w.fix}`),
  ];
  return `${out.join('\n')}\n`;
}

/** This week's certificates per registered domain, as Caddy's storage on the server holds them. */
function renderCertificates(certificates: NonNullable<AppStatus['certificates']> | null): string[] {
  if (certificates === null) return ["certificates: Caddy's storage could not be read"];
  if (certificates.length === 0) return ['certificates this week: none obtained'];
  return [
    'certificates this week (this server, every app; the public CA allows 50 per domain):',
    ...certificates.flatMap((c) => [
      `  ${c.domain}: ${c.thisWeek}`,
      ...(c.warning === null ? [] : [`  ! ${c.warning}`]),
    ]),
  ];
}

function count(n: number | null): string {
  return n === null ? 'missing' : `${n} key${n === 1 ? '' : 's'}`;
}

export function renderReleases(environment: string, releases: readonly KeptRelease[]): string {
  if (releases.length === 0) return `${environment} has no kept releases\n`;
  const lines = releases.map((r) => `${r.id}${r.live ? '  live' : r.previous ? '  previous' : ''}`);
  return `${lines.join('\n')}\n`;
}
