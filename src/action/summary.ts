import * as core from '@actions/core';

export interface SummaryRow {
  environment: string;
  action: 'deployed' | 'unchanged' | 'removed' | 'skipped' | 'failed';
  url?: string | undefined;
  commit?: string | undefined;
  release?: string | undefined;
  seconds: number;
}

/** The job summary: a table of environment, URL, commit and duration. */
export async function writeSummary(app: string, rows: SummaryRow[], note?: string): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  const summary = core.summary.addHeading(`toss · ${app}`, 3).addTable([
    [
      { data: 'Environment', header: true },
      { data: 'Result', header: true },
      { data: 'URL', header: true },
      { data: 'Commit', header: true },
      { data: 'Release', header: true },
      { data: 'Duration', header: true },
    ],
    ...rows.map((r) => [
      r.environment,
      r.action,
      r.url ? `<a href="${r.url}">${r.url}</a>` : '',
      r.commit ? r.commit.slice(0, 7) : '',
      r.release ?? '',
      `${r.seconds.toFixed(1)} s`,
    ]),
  ]);
  if (note) summary.addRaw(note, true);
  await summary.write();
}
