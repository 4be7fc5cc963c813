/**
 * Runs the committed action bundle (dist/index.js) the way a GitHub runner does: Node 24, a
 * child process, GITHUB_* and INPUT_* variables, file commands, then the post step with STATE_*.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { node24 } from '../../support/node24.js';

const ROOT = resolve(import.meta.dirname, '../../..');

export interface ActionRun {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  state: Record<string, string>;
  summary: string;
  runnerTemp: string;
}

export interface ActionRunOptions {
  eventName: string;
  payload: unknown;
  workspace: string;
  inputs: Record<string, string>;
  apiUrl: string;
  ref?: string;
  sha?: string;
  repository?: string;
  /**
   * The runner user's home, as every job of a runner image has it (/home/runner): the same path,
   * and whatever the caller left there. Default: a new empty directory for this run.
   */
  home?: string;
  /** more variables the runner gives the action (the cache service's, say) */
  env?: Record<string, string>;
  /** STATE_* for the post step */
  state?: Record<string, string>;
  /** reuse the temp dir of the main step (post runs in the same job) */
  runnerTemp?: string;
  /** kill the process with this signal once `killWhen` returns true for the output so far */
  killWhen?: (output: string) => boolean;
  killSignal?: NodeJS.Signals;
  /**
   * `dist` (default): the committed bundle under Node 24, as the runner runs it. `source`: the
   * TypeScript entry through tsx under this Node, for tests of source changes not yet bundled.
   */
  entry?: 'dist' | 'source';
  /** another bundle to run instead of the committed dist/index.js (an older build, to compare) */
  bundle?: string;
}

/** `name<<DELIM\nvalue\nDELIM` blocks (and plain `name=value` lines) of GITHUB_OUTPUT/GITHUB_STATE. */
export function parseFileCommands(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delimiter] = heredoc as unknown as [string, string, string];
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i]!);
      out[name] = value.join('\n');
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return out;
}

export function runAction(options: ActionRunOptions): Promise<ActionRun> {
  const runnerTemp = options.runnerTemp ?? mkdtempSync(join(tmpdir(), 'toss-runner-'));
  const files = mkdtempSync(join(tmpdir(), 'toss-files-'));
  const eventPath = join(files, 'event.json');
  writeFileSync(eventPath, JSON.stringify(options.payload));
  const output = join(files, 'output');
  const stateFile = join(files, 'state');
  const summary = join(files, 'summary');
  for (const f of [output, stateFile, summary]) writeFileSync(f, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: options.home ?? mkdtempSync(join(tmpdir(), 'toss-runner-home-')),
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_EVENT_NAME: options.eventName,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REPOSITORY: options.repository ?? 'octo/hello',
    GITHUB_REF: options.ref ?? 'refs/heads/main',
    GITHUB_SHA: options.sha ?? '0123456789abcdef0123456789abcdef01234567',
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_ACTOR: 'octocat',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: options.apiUrl,
    GITHUB_WORKSPACE: options.workspace,
    GITHUB_OUTPUT: output,
    GITHUB_STATE: stateFile,
    GITHUB_STEP_SUMMARY: summary,
    RUNNER_TEMP: runnerTemp,
    RUNNER_OS: 'Linux',
    ...options.env,
  };
  for (const [name, value] of Object.entries(options.inputs)) {
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  }
  for (const [name, value] of Object.entries(options.state ?? {})) env[`STATE_${name}`] = value;
  return new Promise((resolvePromise, reject) => {
    const [command, argv] =
      options.entry === 'source'
        ? [
            process.execPath,
            [
              '--import',
              join(ROOT, 'node_modules/tsx/dist/loader.mjs'),
              join(ROOT, 'src/index.ts'),
            ],
          ]
        : [node24(), [options.bundle ?? join(ROOT, 'dist/index.js')]];
    const child = spawn(command, argv, {
      cwd: options.workspace,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    const check = () => {
      if (!killed && options.killWhen?.(stdout + stderr)) {
        killed = true;
        child.kill(options.killSignal ?? 'SIGTERM');
      }
    };
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
      check();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
      check();
    });
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolvePromise({
        code: code ?? -1,
        signal,
        stdout,
        stderr,
        outputs: parseFileCommands(readFileSync(output, 'utf8')),
        state: parseFileCommands(readFileSync(stateFile, 'utf8')),
        summary: readFileSync(summary, 'utf8'),
        runnerTemp,
      }),
    );
  });
}
