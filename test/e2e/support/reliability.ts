/**
 * E2E support for the reliability tests: a toss CLI child process that can be killed at a
 * chosen progress line, state/registry reads validated by their schemas, and server inspections.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseRegistry, type Registry } from '../../../src/server/registry.js';
import { type State, stateSchema } from '../../../src/server/state.js';
import type { TestHost } from '../harness/types.js';
import { inHost, type TossRun } from './app.js';

const ROOT = resolve(import.meta.dirname, '../../..');

export interface RunningToss {
  child: ChildProcess;
  pid: number;
  /** all output so far */
  output(): string;
  /** resolves once the output contains `text` (or a predicate holds); rejects on exit first */
  waitFor(text: string | ((out: string) => boolean), timeoutMs?: number): Promise<void>;
  done: Promise<TossRun & { signal: NodeJS.Signals | null }>;
}

/** Starts the real CLI (from source) as a child process, as support/app.ts's toss() does. */
export function startToss(
  host: TestHost,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): RunningToss {
  const useDist = process.env.TOSS_E2E_CLI === 'dist';
  const argv = useDist
    ? [join(ROOT, 'dist/cli/index.js'), ...args]
    : [
        '--import',
        join(ROOT, 'node_modules/tsx/dist/loader.mjs'),
        join(ROOT, 'src/cli/index.ts'),
        ...args,
      ];
  const knownHosts = join(mkdtempSync(join(tmpdir(), 'toss-kh-')), 'known_hosts');
  writeFileSync(knownHosts, `${host.knownHostsLines.join('\n')}\n`);
  const child = spawn(process.execPath, argv, {
    cwd: options.cwd,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: mkdtempSync(join(tmpdir(), 'toss-home-')),
      TOSS_KNOWN_HOSTS: knownHosts,
      TOSS_SSH_KEY: host.keyPath,
      NO_COLOR: '1',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let output = '';
  const watchers = new Set<() => void>();
  const onData = () => {
    for (const w of [...watchers]) w();
  };
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c;
    output += c;
    onData();
  });
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c;
    output += c;
    onData();
  });
  let exited = false;
  const done = new Promise<TossRun & { signal: NodeJS.Signals | null }>((res, rej) => {
    child.on('error', rej);
    child.on('close', (code, signal) => {
      exited = true;
      onData();
      res({ code: code ?? -1, signal, stdout, stderr, output });
    });
  });
  return {
    child,
    pid: child.pid!,
    output: () => output,
    done,
    waitFor(text, timeoutMs = 90_000) {
      const test = typeof text === 'string' ? (o: string) => o.includes(text) : text;
      return new Promise((res, rej) => {
        const timer = setTimeout(() => {
          watchers.delete(check);
          rej(new Error(`timed out waiting for ${String(text)}; output:\n${output}`));
        }, timeoutMs);
        const check = () => {
          if (test(output)) {
            clearTimeout(timer);
            watchers.delete(check);
            res();
          } else if (exited) {
            clearTimeout(timer);
            watchers.delete(check);
            rej(new Error(`toss exited before ${String(text)}; output:\n${output}`));
          }
        };
        watchers.add(check);
        check();
      });
    },
  };
}

/** state.json of `app` on the host, parsed with the real schema (throws if invalid). */
export async function readStateOn(host: TestHost, app: string): Promise<State> {
  return stateSchema.parse(JSON.parse(await inHost(host, ['cat', `/srv/${app}/.toss/state.json`])));
}

/** The server-wide registry, parsed by the real parser (throws if invalid). */
export async function readRegistryOn(host: TestHost): Promise<Registry> {
  const text = await inHost(host, ['cat', '/var/lib/toss/registry.json']);
  return parseRegistry(text, 'registry.json');
}

/** Every port claimed in the registry, with a check that no two environments share one. */
export function registryPorts(registry: Registry): number[] {
  const ports: number[] = [];
  for (const app of Object.values(registry.apps)) {
    for (const env of Object.values(app.environments)) ports.push(...env.ports);
  }
  return ports;
}

/** Active (or activating) toss-run-* units on the host. */
export async function activeRunUnits(host: TestHost): Promise<string[]> {
  const out = await inHost(host, [
    'systemctl',
    'list-units',
    'toss-run-*',
    '--no-legend',
    '--plain',
    '--state=active,activating,deactivating,reloading',
  ]);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** Waits for a process matching `pgrep -f pattern` on the host. */
export async function waitForHostProcess(
  host: TestHost,
  pattern: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await host.exec(['pgrep', '-f', pattern])).code === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no process matching ${pattern} on the host within ${timeoutMs} ms`);
}

/** `(release <id>)` from a successful deploy's last line. */
export function releaseOf(run: { stdout: string }): string | undefined {
  return /\(release (\S+)\)/.exec(run.stdout)?.[1];
}

/** Result row for the report table. */
export interface ScenarioResult {
  scenario: string;
  runs: number;
  survived: number;
  lost: number;
}

export function reportRow(row: ScenarioResult): void {
  console.log(
    `RELIABILITY | ${row.scenario} | runs ${row.runs} | survived ${row.survived} | lost ${row.lost}`,
  );
}

/**
 * Adds two test routes to the example app's server.js in a checkout: `/env/<KEY>` answers the
 * raw value of that variable in the running unit (404 when unset), `/read?path=P` tries to read
 * file P and answers `OK <length>` or the error code (EACCES, ENOENT…).
 */
export function addTestRoutes(appDir: string): void {
  const file = join(appDir, 'server.js');
  const text = readFileSync(file, 'utf8');
  const marker = "  } else if (request.url === '/boots') {";
  if (!text.includes(marker)) throw new Error('server.js changed: cannot add the test routes');
  const routes = `  } else if (request.url.startsWith('/env/')) {
    const value = process.env[decodeURIComponent(request.url.slice(5))];
    response.statusCode = value === undefined ? 404 : 200;
    response.end(value ?? '');
  } else if (request.url.startsWith('/read?')) {
    const path = new URL(request.url, 'http://x').searchParams.get('path') ?? '';
    try {
      response.end(\`OK \${readFileSync(path).length}\`);
    } catch (error) {
      response.end(String(error.code ?? error));
    }
`;
  writeFileSync(file, text.replace(marker, routes + marker));
}
