/**
 * `toss list` in a real terminal prints every URL whole: production and two previews with long
 * host names are deployed to a real host, then `toss list` runs in a pseudo-terminal 80 and 200
 * columns wide (other columns give way; a URL wider than the terminal is still printed whole, on
 * its row's one line), and through a pipe (every column, nothing cut).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, makeApp, toss } from './support/app.js';
import { runInPty } from './support/pty.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DOMAIN = 'some-long-company-domain.example.com';
// A branch's preview whose row (name and URL) is wider than an 80-column terminal.
const BRANCH_ENV = 'feature-checkout';
const URLS: Record<string, string> = {
  production: `https://www.${DOMAIN}/`,
  'pr-1234': `https://pr-1234.preview.${DOMAIN}/`,
  [BRANCH_ENV]: `https://${BRANCH_ENV}.preview.${DOMAIN}/`,
};

let host: TestHost;
let app: AppCheckout;

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, { domain: `www.${DOMAIN}`, previewDomain: `preview.${DOMAIN}` });
  for (const environment of Object.keys(URLS)) {
    const run = await toss(host, ['deploy', environment], { cwd: app.dir });
    expect(run.code, run.output).toBe(0);
  }
}, 300_000);
afterAll(async () => {
  await host?.shutdown();
});

/** `toss list` in a pseudo-terminal of `columns` columns; its screen, one string per line. */
async function listInTerminal(columns: number): Promise<string[]> {
  const knownHosts = join(mkdtempSync(join(tmpdir(), 'toss-kh-')), 'known_hosts');
  writeFileSync(knownHosts, `${host.knownHostsLines.join('\n')}\n`);
  // The pty starts 200 columns wide; stty gives it the width under test before toss starts.
  const argv = [
    '/bin/sh',
    '-c',
    'stty cols "$1" && shift && exec "$@"',
    'sh',
    String(columns),
    process.execPath,
    '--import',
    join(ROOT, 'node_modules/tsx/dist/loader.mjs'),
    join(ROOT, 'src/cli/index.ts'),
    'list',
  ];
  const pty = await runInPty(argv, [], {
    cwd: app.dir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: mkdtempSync(join(tmpdir(), 'toss-home-')),
      TERM: 'xterm-256color',
      TOSS_KNOWN_HOSTS: knownHosts,
      TOSS_SSH_KEY: host.keyPath,
    },
  });
  expect(pty.code, pty.screen).toBe(0);
  // What a line shows is what follows its last carriage return (a progress line redrawn in place).
  return pty.screen.split(/\r?\n/).map((line) => line.slice(line.lastIndexOf('\r') + 1));
}

/** The table's header line and each environment's row, found by its first word. */
function table(lines: string[]): { header: string; rows: Record<string, string> } {
  const header = lines.find((line) => line.startsWith('ENVIRONMENT'));
  if (header === undefined) throw new Error(`no table in:\n${lines.join('\n')}`);
  const rows: Record<string, string> = {};
  for (const environment of Object.keys(URLS)) {
    const row = lines.find((line) => line.split(/\s+/)[0] === environment);
    if (row === undefined) throw new Error(`no row for ${environment} in:\n${lines.join('\n')}`);
    rows[environment] = row;
  }
  return { header, rows };
}

/** Every URL whole on its environment's row, under the URL header. */
function expectWholeUrls({ header, rows }: ReturnType<typeof table>): void {
  for (const [environment, url] of Object.entries(URLS)) {
    const row = rows[environment]!;
    expect(row.split(/\s+/), row).toContain(url);
    expect(row.indexOf(url), row).toBe(header.indexOf('URL'));
  }
}

describe('toss list at the terminal width', () => {
  it('in 80 columns: every URL whole, other columns gone, rows that fit within 80', async () => {
    const listed = table(await listInTerminal(80));
    expectWholeUrls(listed);
    expect(listed.header.split(/\s+/)).toEqual(['ENVIRONMENT', 'URL']);
    for (const [environment, row] of Object.entries(listed.rows)) {
      const fits = BRANCH_ENV.length + 2 + URLS[environment]!.length <= 80;
      if (fits) expect([...row].length, row).toBeLessThanOrEqual(80);
    }
    // The branch's row is wider than the terminal, yet its URL is not cut.
    expect([...listed.rows[BRANCH_ENV]!].length).toBeGreaterThan(80);
    expect(listed.rows[BRANCH_ENV]).not.toContain('…');
  });

  it('in 200 columns: every URL whole and every column there', async () => {
    const listed = table(await listInTerminal(200));
    expectWholeUrls(listed);
    expect(listed.header.split(/\s+/)).toEqual([
      'ENVIRONMENT',
      'URL',
      'PORT',
      'RELEASE',
      'COMMIT',
      'DEPLOYED',
      'BY',
      'SERVICE',
    ]);
    for (const row of Object.values(listed.rows)) {
      expect([...row].length, row).toBeLessThanOrEqual(200);
      expect(row).toMatch(/ active$/);
    }
  });

  it('piped: every column, nothing cut', async () => {
    const run = await toss(host, ['list'], { cwd: app.dir });
    expect(run.code, run.output).toBe(0);
    const listed = table(run.stdout.split('\n'));
    expectWholeUrls(listed);
    expect(listed.header.split(/\s+/)).toHaveLength(8);
    expect(run.stdout).not.toContain('…');
  });
});
