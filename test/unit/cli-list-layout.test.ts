/**
 * `toss list`'s table at a terminal's width: other columns give way in their set order, and a
 * URL is never cut, even when it alone is wider than the terminal. Also the generic table's drop
 * and cut rules, and how the CLI picks the width (the terminal's, or none when piped).
 */
import { describe, expect, it } from 'vitest';
import { terminalWidth } from '../../src/cli/commands/list.js';
import { renderList, renderListing, renderStatus } from '../../src/cli/render-status.js';
import { renderTable } from '../../src/cli/table.js';
import type { AppStatus, EnvironmentListing } from '../../src/pipeline/inspect.js';

const NOW = new Date('2026-11-02T10:05:00Z');
const DOMAIN = 'some-long-company-domain.example.com';
const PRODUCTION_URL = `https://www.${DOMAIN}/`;
const PREVIEW_URL = `https://pr-1234.preview.${DOMAIN}/`;
// A branch's preview: its URL alone (88 characters) is wider than an 80-column terminal.
const BRANCH_ENV = 'feature-checkout-redesign-5f3a9c21';
const BRANCH_URL = `https://${BRANCH_ENV}.preview.${DOMAIN}/`;

function environment(name: string, url: string, fields: Partial<EnvironmentListing> = {}) {
  return {
    name,
    url,
    ports: [3000, 3001] as [number, number],
    livePort: 3000,
    release: '20261102T100000Z-bbbb',
    previousRelease: null,
    releases: ['20261102T100000Z-bbbb'],
    commit: '0123456789abcdef0123456789abcdef01234567',
    deployedAt: '2026-11-02T10:00:00.000Z',
    by: 'Alice Example (alice-laptop.local)',
    runUrl: null,
    branch: null,
    pr: null,
    service: 'active',
    database: null,
    ...fields,
  } satisfies EnvironmentListing;
}

const ENVIRONMENTS = [
  environment('production', PRODUCTION_URL),
  environment('pr-1234', PREVIEW_URL, { livePort: 3003, service: 'failed', pr: 1234 }),
];

/** The header's column names, in order (headers are single words). */
function headers(table: string): string[] {
  return table.split('\n')[0]!.split(/\s+/);
}

/** The row of an environment: its first word is the name. */
function rowOf(table: string, name: string): string {
  const row = table.split('\n').find((line) => line.split(/\s+/)[0] === name);
  if (row === undefined) throw new Error(`no row for ${name} in:\n${table}`);
  return row;
}

/** Every URL is whole on its environment's row, each column starting under its header. */
function expectWholeUrls(table: string, environments: EnvironmentListing[]): void {
  const urlColumn = table.split('\n')[0]!.indexOf('URL');
  for (const e of environments) {
    const row = rowOf(table, e.name);
    expect(row.split(/\s+/), row).toContain(e.url);
    expect(row.indexOf(e.url!), row).toBe(urlColumn);
  }
}

function widest(table: string): number {
  return Math.max(...table.split('\n').map((line) => [...line].length));
}

describe('toss list at a terminal width, with long preview URLs', () => {
  it('at 80 columns keeps only the name and the whole URL', () => {
    const table = renderListing(ENVIRONMENTS, NOW, 80);
    expect(headers(table)).toEqual(['ENVIRONMENT', 'URL']);
    expectWholeUrls(table, ENVIRONMENTS);
    expect(widest(table)).toBeLessThanOrEqual(80);
    expect(table).not.toContain('…');
  });

  it('at 120 columns drops the release and the port, and cuts BY only as much as it must', () => {
    const table = renderListing(ENVIRONMENTS, NOW, 120);
    expect(headers(table)).toEqual(['ENVIRONMENT', 'URL', 'COMMIT', 'DEPLOYED', 'BY', 'SERVICE']);
    expectWholeUrls(table, ENVIRONMENTS);
    expect(widest(table)).toBeLessThanOrEqual(120);
    expect(rowOf(table, 'pr-1234')).toMatch(/0123456 +5 min ago +Alice Example … +failed$/);
  });

  it('at 200 columns shows every column as it is', () => {
    const table = renderListing(ENVIRONMENTS, NOW, 200);
    expect(headers(table)).toEqual([
      'ENVIRONMENT',
      'URL',
      'PORT',
      'RELEASE',
      'COMMIT',
      'DEPLOYED',
      'BY',
      'SERVICE',
    ]);
    expectWholeUrls(table, ENVIRONMENTS);
    expect(table).not.toContain('…');
    expect(rowOf(table, 'pr-1234')).toContain('Alice Example (alice-laptop.local)');
    expect(table).toBe(renderListing(ENVIRONMENTS, NOW));
  });

  it("names each environment's database last when the app has any, and drops it first", () => {
    const withDb = [
      environment('production', PRODUCTION_URL, { database: 'toss_shop_production' }),
      environment('pr-1234', PREVIEW_URL, { pr: 1234 }),
    ];
    const wide = renderListing(withDb, NOW, 300);
    expect(headers(wide).at(-1)).toBe('DATABASE');
    expect(rowOf(wide, 'production')).toContain('toss_shop_production');
    expect(rowOf(wide, 'pr-1234').trimEnd().endsWith('-')).toBe(true);
    // Just wide enough for the table without it: it goes, and nothing else does.
    const without = renderListing(
      withDb.map((e) => ({ ...e, database: null })),
      NOW,
    );
    const width = Math.max(...without.split('\n').map((line) => line.length));
    expect(renderListing(withDb, NOW, width)).toBe(without);
  });

  it('prints a URL wider than the terminal whole, with the name, every column else gone', () => {
    const environments = [...ENVIRONMENTS, environment(BRANCH_ENV, BRANCH_URL)];
    for (const width of [40, 80, 120]) {
      const table = renderListing(environments, NOW, width);
      expectWholeUrls(table, environments);
      expect(headers(table).slice(0, 2)).toEqual(['ENVIRONMENT', 'URL']);
    }
    const narrow = renderListing(environments, NOW, 80);
    expect(headers(narrow)).toEqual(['ENVIRONMENT', 'URL']);
    expect(rowOf(narrow, BRANCH_ENV)).toBe(`${BRANCH_ENV}  ${BRANCH_URL}`);
  });

  it('gives way column by column as the terminal narrows: release, port, by, commit, age, state', () => {
    const seen: string[][] = [];
    for (let width = 200; width >= 60; width--) {
      const columns = headers(renderListing(ENVIRONMENTS, NOW, width));
      if (seen.at(-1)?.join() !== columns.join()) seen.push(columns);
    }
    const gone = seen.slice(1).map((now, n) => seen[n]!.filter((c) => !now.includes(c)));
    expect(gone).toEqual([['RELEASE'], ['PORT'], ['BY'], ['COMMIT'], ['DEPLOYED'], ['SERVICE']]);
  });

  it('renderList and renderStatus fit the same width; piped (no width) they cut nothing', () => {
    const list = renderList({ version: 1, app: 'shop', environments: ENVIRONMENTS }, NOW, 80);
    expect(list).toBe(`${renderListing(ENVIRONMENTS, NOW, 80)}\n`);
    const status = statusWith(ENVIRONMENTS);
    expect(renderStatus(status, NOW, 80)).toContain(renderListing(ENVIRONMENTS, NOW, 80));
    expect(renderStatus(status, NOW)).toContain(renderListing(ENVIRONMENTS, NOW, 200));
  });
});

function statusWith(environments: EnvironmentListing[]): AppStatus {
  return {
    version: 1,
    app: 'shop',
    server: 'deploy@203.0.113.10',
    origin: null,
    config: {
      domain: `www.${DOMAIN}`,
      previewDomain: `preview.${DOMAIN}`,
      tls: 'auto',
      startCommand: 'node server.js',
      static: null,
      deployScript: [],
      keepReleases: 3,
      maxPreviews: 10,
      persistentDirs: [],
    },
    previewPolicy: null,
    environments: environments.map((e) => ({ ...e, overrideKeys: [] })),
    lock: null,
    dependencies: [],
    databases: null,
    secrets: { production: null, preview: null },
    warnings: [],
  } as AppStatus;
}

describe('renderTable', () => {
  const columns = [
    { header: 'KEEP' },
    { header: 'LATE', dropOrder: 2 },
    { header: 'CUT', min: 4, dropOrder: 1 },
  ];
  const rows = [['keep-me-whole', 'late', 'cut-me-short']];

  it('cuts a column to its min before dropping it, then drops the next one', () => {
    expect(renderTable(columns, rows, 100)).toBe(
      'KEEP           LATE  CUT\nkeep-me-whole  late  cut-me-short',
    );
    expect(renderTable(columns, rows, 27)).toBe(
      'KEEP           LATE  CUT\nkeep-me-whole  late  cut-m…',
    );
    expect(renderTable(columns, rows, 25)).toBe(
      'KEEP           LATE  CUT\nkeep-me-whole  late  cut…',
    );
    expect(renderTable(columns, rows, 24)).toBe('KEEP           LATE\nkeep-me-whole  late');
    expect(renderTable(columns, rows, 18)).toBe('KEEP\nkeep-me-whole');
  });

  it('never cuts nor drops a column with neither a min nor a drop order', () => {
    expect(renderTable(columns, rows, 5)).toBe('KEEP\nkeep-me-whole');
  });
});

describe('terminalWidth', () => {
  it("is the terminal's columns, and no limit when stdout is not a terminal", () => {
    expect(terminalWidth({ isTTY: true, columns: 80 })).toBe(80);
    expect(terminalWidth({ isTTY: false, columns: 80 })).toBe(Number.POSITIVE_INFINITY);
    expect(terminalWidth({})).toBe(Number.POSITIVE_INFINITY);
    expect(terminalWidth({ isTTY: true, columns: 0 })).toBe(Number.POSITIVE_INFINITY);
  });
});
