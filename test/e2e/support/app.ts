/**
 * E2E support: a git checkout of examples/hello aimed at a test host, the real CLI run as a child
 * process, HTTPS fetches verified against the host's Caddy CA, and a probe that counts failures.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { TestHost } from '../harness/types.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../..');
const EXAMPLES = join(ROOT, 'examples');

export interface AppCheckout {
  dir: string;
  /** rewrites toss.json with these fields merged in */
  configure(fields: Record<string, unknown>): void;
  /** writes a file in the checkout and commits it */
  commit(file: string, content: string): Promise<void>;
  config(): Record<string, unknown>;
}

/**
 * A fresh git checkout of examples/<example> (origin `git@github.com:octo/<app>.git`) aimed at
 * `host`.
 */
export async function makeApp(
  host: TestHost,
  fields: Record<string, unknown> = {},
  origin = `git@github.com:octo/${String(fields.app ?? 'hello')}.git`,
  example = 'hello',
): Promise<AppCheckout> {
  const dir = mkdtempSync(join(tmpdir(), 'toss-app-'));
  cpSync(join(EXAMPLES, example), dir, {
    recursive: true,
    // What a clone would not have: an install or a build left in the example by hand.
    filter: (source) => !/\/(?:node_modules|dist)$/.test(source),
  });
  const git = (...args: string[]) =>
    run('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', ...args], {
      cwd: dir,
    });
  const configFile = join(dir, 'toss.json');
  const config = () => JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  const configure = (more: Record<string, unknown>) => {
    const next = { ...config(), ...more };
    delete next.$schema;
    writeFileSync(configFile, `${JSON.stringify(next, null, 2)}\n`);
  };
  configure({ server: `root@${host.ip}`, tls: 'internal', ...fields });
  await git('init', '-q', '-b', 'main');
  await git('remote', 'add', 'origin', origin);
  await git('add', '-A');
  await git('commit', '-qm', 'init');
  return {
    dir,
    configure,
    config,
    async commit(file, content) {
      writeFileSync(join(dir, file), content);
      await git('add', '-A');
      await git('commit', '-qm', `change ${file}`);
    },
  };
}

export interface TossRun {
  code: number;
  stdout: string;
  stderr: string;
  output: string;
}

/**
 * Runs the real CLI: from source through tsx by default, the committed bundle when
 * TOSS_E2E_CLI=dist. Trust and key come from the host, as a user's ~/.ssh would give them.
 */
export function toss(
  host: TestHost,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; user?: 'root' | 'deploy' } = { cwd: '.' },
): Promise<TossRun> {
  const useDist = process.env.TOSS_E2E_CLI === 'dist';
  const command = process.execPath;
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
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, argv, {
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
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
      output += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
      output += c;
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr, output }));
  });
}

export interface FetchResult {
  status: number;
  body: string;
}

/** GET `https://<name>/<path>` from this machine, the certificate verified against the host's Caddy CA. */
export function fetchSite(
  host: TestHost,
  name: string,
  path = '/',
  options: { scheme?: 'https' | 'http'; timeoutMs?: number; auth?: string } = {},
): Promise<FetchResult> {
  const scheme = options.scheme ?? 'https';
  const make = scheme === 'https' ? request : httpRequest;
  return new Promise((resolvePromise, reject) => {
    const req = make(
      {
        host: host.ip,
        port: scheme === 'https' ? 443 : 80,
        path,
        method: 'GET',
        servername: name,
        headers: { host: name, ...(options.auth ? { authorization: options.auth } : {}) },
        ca: host.caCert,
        timeout: options.timeoutMs ?? 5000,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout fetching ${scheme}://${name}${path}`)));
    req.on('error', reject);
    req.end();
  });
}

export interface Probe {
  stop(): Promise<{ ok: number; failed: number; failures: string[]; bodies: Set<string> }>;
}

/** Requests the site every `intervalMs` until stopped; any non-2xx or error counts as failed. */
export function startProbe(host: TestHost, name: string, intervalMs = 50): Probe {
  let ok = 0;
  let failed = 0;
  const failures: string[] = [];
  const bodies = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      try {
        const res = await fetchSite(host, name, '/', { timeoutMs: 5000 });
        if (res.status >= 200 && res.status < 300) {
          ok++;
          bodies.add(res.body);
        } else {
          failed++;
          failures.push(`HTTP ${res.status}: ${res.body.slice(0, 200)}`);
        }
      } catch (error) {
        failed++;
        failures.push((error as Error).message);
      }
      const wait = intervalMs - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ok, failed, failures, bodies };
    },
  };
}

/** `<env>.<app>.<ip with dashes>.sslip.io`, the name an app without a domain gets. */
export function sslipName(host: TestHost, app: string, environment: string): string {
  return `${environment}.${app}.${host.ip.replaceAll('.', '-')}.sslip.io`;
}

/** Runs a command inside the host (no SSH) and returns stdout; throws on a non-zero exit. */
export async function inHost(host: TestHost, argv: string[]): Promise<string> {
  const result = await host.exec(argv);
  if (result.code !== 0) {
    throw new Error(`${argv.join(' ')} exited ${result.code}: ${result.stderr}`);
  }
  return result.stdout;
}

/** How many SSH logins the host's sshd has accepted so far. */
export async function sshLogins(host: TestHost): Promise<number> {
  const out = await host.exec(['journalctl', '-u', 'ssh', '--no-pager', '-o', 'cat']);
  return out.stdout.split('\n').filter((l) => l.includes('Accepted publickey')).length;
}

/**
 * The CLI (from source) as a child process the test controls: signals, stdin, a terminal through
 * `wrap` (script(1)), with the environment toss() gives it.
 */
export function spawnCli(
  host: TestHost,
  argv: string[],
  options: { cwd: string; wrap?: (command: string[]) => string[] },
) {
  const knownHosts = join(mkdtempSync(join(tmpdir(), 'toss-kh-')), 'known_hosts');
  writeFileSync(knownHosts, `${host.knownHostsLines.join('\n')}\n`);
  const cli = [
    process.execPath,
    '--import',
    join(ROOT, 'node_modules/tsx/dist/loader.mjs'),
    join(ROOT, 'src/cli/index.ts'),
    ...argv,
  ];
  const [command, ...args] = (options.wrap ? options.wrap(cli) : cli) as [string, ...string[]];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: mkdtempSync(join(tmpdir(), 'toss-home-')),
      TOSS_KNOWN_HOSTS: knownHosts,
      TOSS_SSH_KEY: host.keyPath,
      NO_COLOR: '1',
      TERM: 'dumb',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  }) as ChildProcessWithoutNullStreams;
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c;
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c;
  });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, output: () => output, exited };
}
