/**
 * The CLI starts fast because `toss --version`, `--help`, a command's `--help` and usage errors
 * load only the bundle's entry: no ssh2, node-ssh, zod, config schema or pipeline code (issue 18).
 * Each run of the built CLI (dist/cli, as the bin runs it) goes through a module hook that writes
 * down every file Node loads; no file it loaded may hold any of the markers below. A deploy that
 * does run shows that the hook sees the chunks an action loads, and that each marker is found.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI_DIR = join(ROOT, 'dist/cli');
const cli = join(CLI_DIR, 'index.js');

/** Text only the code that must stay unloaded has (string literals survive minifying). */
const MARKERS: Record<string, string> = {
  ssh2: 'SSH-2.0-ssh2js',
  'node-ssh': 'config must be a valid object',
  zod: '$ZodType',
  'config schema (src/config/schema.ts)': 'a non-empty array of shell commands',
  'pipeline (src/pipeline/events.ts)': 'Compare with the live release',
};

const dir = mkdtempSync(join(tmpdir(), 'toss-cli-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Registered with --import before the CLI loads; the hook thread appends each URL it loads.
const hook = join(dir, 'hook.mjs');
writeFileSync(
  hook,
  `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.TOSS_LOADED_LOG, url + '\\\\n');
  return next(url, context);
}\`));
`,
);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** the bundle's files Node loaded, as names in dist/cli */
  loaded: string[];
}

let runs = 0;
function runCli(args: string[], cwd = dir): Promise<Run> {
  const log = join(dir, `loaded-${++runs}`);
  writeFileSync(log, '');
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', pathToFileURL(hook).href, cli, ...args],
      { cwd, env: { PATH: process.env.PATH, HOME: dir, NO_COLOR: '1', TOSS_LOADED_LOG: log } },
      (error, stdout, stderr) => {
        const loaded = readFileSync(log, 'utf8')
          .split('\n')
          .filter((url) => url.startsWith('file:'))
          .map((url) => fileURLToPath(url))
          .filter((path) => path.startsWith(`${CLI_DIR}/`))
          .map((path) => path.slice(CLI_DIR.length + 1));
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        done({ code, stdout, stderr, loaded });
      },
    );
  });
}

/** The markers each of `files` (in dist/cli) holds, as `file: marker`. */
function markersIn(files: string[]): string[] {
  return files.flatMap((file) => {
    const text = readFileSync(join(CLI_DIR, file), 'utf8');
    return Object.entries(MARKERS)
      .filter(([, marker]) => text.includes(marker))
      .map(([name]) => `${file}: ${name}`);
  });
}

describe('what the CLI loads to start', () => {
  it('the entry of the bundle holds none of the heavy code; chunks next to it do', () => {
    expect(markersIn(['index.js'])).toEqual([]);
    const chunks = readdirSync(CLI_DIR).filter((f) => f !== 'index.js' && f.endsWith('.js'));
    const found = new Set(markersIn(chunks).map((hit) => hit.split(': ')[1]));
    // A marker found nowhere no longer names the code it stands for: update it.
    expect([...found].sort()).toEqual(Object.keys(MARKERS).sort());
  });

  it.each([
    [['--version'], 0],
    [['-v'], 0],
    [['--help'], 0],
    [['deploy', '--help'], 0],
    [['init', '--help'], 0],
    [['db', 'shell', '--help'], 0],
    [['secrets', 'push', '--help'], 0],
    [['deploy'], 2],
    [['--bogus'], 2],
    [['deploy', 'production', '--lock-wait', 'soon'], 2],
    [['secrets', 'push', 'staging', '--file', '.env'], 2],
  ])('toss %j loads the entry alone (exit %i)', async (args, exitCode) => {
    const run = await runCli(args);
    expect(run.code, run.stderr).toBe(exitCode);
    expect(run.loaded).toEqual(['index.js']);
    expect(markersIn(run.loaded)).toEqual([]);
    if (args[0] === '--version') expect(run.stdout.trim()).toBe(VERSION);
    if (exitCode === 0 && args.includes('--help')) expect(run.stdout).toContain('Usage: toss');
  });

  it('a command that runs loads its chunks: a deploy without toss.json loads zod, not ssh2', async () => {
    const run = await runCli(['deploy', 'production']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('toss.json');
    expect(run.loaded[0]).toBe('index.js');
    const hits = markersIn(run.loaded).join('\n');
    expect(hits).toContain(': zod');
    // A config that cannot be read never loads the SSH code.
    expect(hits).not.toContain(': ssh2');
  });

  it('a deploy whose toss.json names a server loads ssh2 (its login starts early)', async () => {
    const project = mkdtempSync(join(dir, 'project-'));
    writeFileSync(
      join(project, 'toss.json'),
      JSON.stringify({ app: 'shop', server: 'root@127.0.0.1:1', startCommand: 'true' }),
    );
    // A key file to log in with (never used: nothing listens on port 1).
    mkdirSync(join(dir, '.ssh'), { recursive: true });
    writeFileSync(join(dir, '.ssh', 'id_ed25519'), 'not a key\n');
    const run = await runCli(['deploy', 'production'], project);
    expect(run.code).toBe(1);
    const hits = markersIn(run.loaded).join('\n');
    expect(hits).toContain(': ssh2');
    expect(hits).toContain(': zod');
  });
});
