/** The sticky PR comment: one per app per PR, found again by its hidden marker. */

export type CommentStatus = 'deploying' | 'live' | 'failed' | 'removed';

export interface CommentParams {
  app: string;
  environment: string;
  status: CommentStatus;
  at: Date;
  url?: string | undefined;
  commit?: string | undefined;
  release?: string | undefined;
  runUrl?: string | undefined;
  /** the step that failed (label), for `failed` */
  failedStep?: string | undefined;
  /** seconds without a request before the preview sleeps (it wakes on the next one) */
  sleepAfter?: number | undefined;
  /** the preview's PostgreSQL database and what it started from (DeployResult.database) */
  database?: { name: string; from: string } | undefined;
  /** nothing changed since the live release: it still serves, nothing was redeployed */
  unchanged?: boolean | undefined;
}

/** "15 min", "2 h", "45 s": an idle time as people say it. */
export function idleTime(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

export function commentMarker(app: string): string {
  return `<!-- toss:${app} -->`;
}

const HEADLINE: Record<CommentStatus, string> = {
  deploying: '⏳ Deploying',
  live: '✅ Live',
  failed: '❌ Deploy failed',
  removed: '🗑️ Removed',
};

const time = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** What the live environment runs with: its sleep and its database. */
function runtimeRows(p: CommentParams): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  if (p.sleepAfter !== undefined && p.status !== 'removed' && p.status !== 'failed') {
    rows.push([
      'Sleeps',
      `after ${idleTime(p.sleepAfter)} without a request; the next request wakes it (it waits for the app)`,
    ]);
  }
  if (p.database !== undefined && p.status === 'live') {
    const from = p.database.from === 'kept' ? 'its own data, kept across deploys' : p.database.from;
    rows.push([
      'Database',
      `\`${p.database.name}\` (PostgreSQL; ${from}; \`toss db shell ${p.environment}\`; dropped with the preview)`,
    ]);
  }
  return rows;
}

/** Markdown body; no output of the deploy goes in (it may hold what a build printed). */
export function commentBody(p: CommentParams): string {
  const rows: Array<[string, string]> = [['Status', HEADLINE[p.status]]];
  if (p.url && p.status !== 'removed')
    rows.push(['URL', p.status === 'live' ? p.url : `${p.url} (not live yet)`]);
  if (p.failedStep) rows.push(['Failed step', p.failedStep]);
  if (p.commit) rows.push(['Commit', `\`${p.commit.slice(0, 7)}\``]);
  if (p.release && p.status === 'live') {
    rows.push([
      'Release',
      p.unchanged
        ? `\`${p.release}\`, unchanged: same files, toss.json and variables, so nothing was redeployed`
        : `\`${p.release}\``,
    ]);
  }
  rows.push(...runtimeRows(p));
  rows.push(['Updated', time(p.at)]);
  if (p.runUrl) rows.push(['Run', `[logs](${p.runUrl})`]);
  const table = ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
  const lead =
    p.status === 'removed'
      ? `The preview \`${p.environment}\` was removed from the server.`
      : p.status === 'live'
        ? `**[${p.url}](${p.url})**`
        : '';
  return [commentMarker(p.app), `### toss · ${p.app} · \`${p.environment}\``, lead, table]
    .filter(Boolean)
    .join('\n\n');
}
