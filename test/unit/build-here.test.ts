import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cachePlan, LOCKFILE_CACHES, type Runner } from '../../src/action/cache-plan.js';
import { execCommand } from '../../src/action/local-runner.js';
import { runShellCommand } from '../../src/cli/local-runner.js';
import { validateEnvName } from '../../src/config/env-name.js';
import { parseConfig } from '../../src/config/load.js';
import type { TossConfig } from '../../src/config/schema.js';
import { TossError } from '../../src/errors.js';
import type { PipelineEvent } from '../../src/pipeline/events.js';
import {
  type BuildCache,
  buildEnvironment,
  buildHere,
  type CommandRunner,
  type LocalBuilder,
} from '../../src/pipeline/local-build.js';
import { StepError } from '../../src/pipeline/step.js';
import { envPaths } from '../../src/server/paths.js';

const RUNNER: Runner = { os: 'Linux', arch: 'X64' };
const ROOT = '/checkout';

function config(extra: Record<string, unknown> = {}): TossConfig {
  return parseConfig({
    app: 'web',
    server: 'deploy@203.0.113.10',
    startCommand: 'node server.js',
    ...extra,
  });
}

/** A reader over an in-memory tree: absolute path → file text. */
function reader(files: Record<string, string>): (path: string) => string | undefined {
  return (path) => files[path];
}

const KEY = /^toss-build_web_Linux_X64_[0-9a-f]{32}$/;

describe('cachePlan', () => {
  const build = { build: ['npm ci', 'npm run build'] };
  const npmLock = { [`${ROOT}/package-lock.json`]: '{"lockfileVersion":3}' };

  it('has no cache without build, even with a lockfile and cache paths', () => {
    expect(cachePlan(config(), ROOT, ROOT, RUNNER, reader(npmLock))).toBeUndefined();
    expect(
      cachePlan(config({ cache: ['~/.npm'] }), ROOT, ROOT, RUNNER, reader(npmLock)),
    ).toBeUndefined();
  });

  it('has no cache when cache is false, even with a lockfile', () => {
    expect(
      cachePlan(config({ ...build, cache: false }), ROOT, ROOT, RUNNER, reader(npmLock)),
    ).toBeUndefined();
  });

  it('has no cache when there is neither a lockfile nor a cache field', () => {
    expect(cachePlan(config(build), ROOT, ROOT, RUNNER, reader({}))).toBeUndefined();
    // A framework file alone says nothing was installed to build with.
    expect(
      cachePlan(config(build), ROOT, ROOT, RUNNER, reader({ [`${ROOT}/next.config.js`]: '' })),
    ).toBeUndefined();
  });

  it("caches npm's download cache for package-lock.json, keyed per app, OS and architecture", () => {
    const plan = cachePlan(config(build), ROOT, ROOT, RUNNER, reader(npmLock));
    expect(plan?.paths).toEqual(['~/.npm']);
    expect(plan?.key).toMatch(KEY);
    expect(plan?.restoreKeys).toEqual(['toss-build_web_Linux_X64_']);
    expect(plan?.key.startsWith(plan?.restoreKeys[0] ?? '?')).toBe(true);
    expect(plan?.lockfiles).toEqual(['package-lock.json']);
  });

  it('puts the runner OS and architecture in the key and its prefix', () => {
    const plan = cachePlan(
      config(build),
      ROOT,
      ROOT,
      { os: 'macOS', arch: 'ARM64' },
      reader(npmLock),
    );
    expect(plan?.key).toMatch(/^toss-build_web_macOS_ARM64_[0-9a-f]{32}$/);
    expect(plan?.restoreKeys).toEqual(['toss-build_web_macOS_ARM64_']);
  });

  it('gives the same key for the same inputs', () => {
    const a = cachePlan(config(build), ROOT, ROOT, RUNNER, reader(npmLock));
    const b = cachePlan(config(build), ROOT, ROOT, RUNNER, reader({ ...npmLock }));
    expect(a?.key).toMatch(KEY);
    expect(b?.key).toBe(a?.key);
  });

  it('changes the key when the lockfile, the build commands or the paths change', () => {
    const base = cachePlan(config(build), ROOT, ROOT, RUNNER, reader(npmLock))?.key;
    const lockChanged = cachePlan(
      config(build),
      ROOT,
      ROOT,
      RUNNER,
      reader({ [`${ROOT}/package-lock.json`]: '{"lockfileVersion":3,"x":1}' }),
    )?.key;
    const buildChanged = cachePlan(
      config({ build: ['npm ci', 'npm run build:prod'] }),
      ROOT,
      ROOT,
      RUNNER,
      reader(npmLock),
    )?.key;
    const pathsChanged = cachePlan(
      config({ ...build, cache: ['~/.npm', '.next/cache'] }),
      ROOT,
      ROOT,
      RUNNER,
      reader(npmLock),
    )?.key;
    const keys = [base, lockChanged, buildChanged, pathsChanged];
    for (const key of keys) expect(key).toMatch(KEY);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('makes relative paths relative to cwd when root is a subdirectory; ~/ and absolute stay', () => {
    const sourceDir = `${ROOT}/apps/web`;
    const plan = cachePlan(
      config({ ...build, root: 'apps/web', cache: ['.next/cache', '~/.npm', '/opt/cache'] }),
      sourceDir,
      ROOT,
      RUNNER,
      reader({}),
    );
    expect(plan?.paths).toEqual(['apps/web/.next/cache', '~/.npm', '/opt/cache']);
    // Explicit paths need no lockfile; the key is then made from the paths and commands.
    expect(plan?.lockfiles).toEqual([]);
    expect(plan?.key).toMatch(KEY);
  });

  it('reads lockfiles in root, not in cwd', () => {
    const sourceDir = `${ROOT}/apps/web`;
    expect(cachePlan(config(build), sourceDir, ROOT, RUNNER, reader(npmLock))).toBeUndefined();
    const plan = cachePlan(
      config(build),
      sourceDir,
      ROOT,
      RUNNER,
      reader({ [`${sourceDir}/yarn.lock`]: '# yarn' }),
    );
    expect(plan?.paths).toEqual(['~/.cache/yarn', 'apps/web/.yarn/cache']);
  });

  it('adds .next/cache for next.config.js only when a lockfile is there', () => {
    const next = { [`${ROOT}/next.config.js`]: 'module.exports = {}' };
    expect(cachePlan(config(build), ROOT, ROOT, RUNNER, reader(next))).toBeUndefined();
    const plan = cachePlan(config(build), ROOT, ROOT, RUNNER, reader({ ...next, ...npmLock }));
    expect(plan?.paths).toEqual(['~/.npm', '.next/cache']);
    expect(plan?.lockfiles).toEqual(['package-lock.json']);
  });

  it('does not add detected framework paths to an explicit cache list', () => {
    const plan = cachePlan(
      config({ ...build, cache: ['~/.npm'] }),
      ROOT,
      ROOT,
      RUNNER,
      reader({ ...npmLock, [`${ROOT}/next.config.js`]: '' }),
    );
    expect(plan?.paths).toEqual(['~/.npm']);
  });

  it('unions the paths of two lockfiles without duplicates and lists both', () => {
    const plan = cachePlan(
      config(build),
      ROOT,
      ROOT,
      RUNNER,
      reader({
        ...npmLock,
        [`${ROOT}/yarn.lock`]: '# yarn',
        [`${ROOT}/npm-shrinkwrap.json`]: '{}',
      }),
    );
    expect(plan?.paths).toEqual(['~/.npm', '~/.cache/yarn', '.yarn/cache']);
    expect(plan?.lockfiles).toEqual(['package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock']);
  });

  it('keys on every lockfile: changing the second one changes the key', () => {
    const two = { ...npmLock, [`${ROOT}/yarn.lock`]: '# yarn 1' };
    const a = cachePlan(config(build), ROOT, ROOT, RUNNER, reader(two))?.key;
    const b = cachePlan(
      config(build),
      ROOT,
      ROOT,
      RUNNER,
      reader({ ...two, [`${ROOT}/yarn.lock`]: '# yarn 2' }),
    )?.key;
    expect(a).toMatch(KEY);
    expect(b).toMatch(KEY);
    expect(b).not.toBe(a);
  });

  it('knows each listed lockfile and caches only ~/, absolute or relative paths without ..', () => {
    const names = LOCKFILE_CACHES.map(([name]) => name);
    expect(new Set(names).size).toBe(names.length);
    for (const [name, paths] of LOCKFILE_CACHES) {
      expect(paths.length).toBeGreaterThan(0);
      const plan = cachePlan(
        config(build),
        ROOT,
        ROOT,
        RUNNER,
        reader({ [`${ROOT}/${name}`]: 'x' }),
      );
      expect(plan?.lockfiles).toEqual([name]);
      expect(plan?.paths).toEqual([...paths]);
      for (const path of paths) expect(path.split('/')).not.toContain('..');
    }
  });

  describe('with the default reader on real files', () => {
    let dir = '';
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'toss-cache-plan-'));
      mkdirSync(join(dir, 'apps', 'web'), { recursive: true });
      writeFileSync(join(dir, 'apps', 'web', 'pnpm-lock.yaml'), 'lockfileVersion: 9.0\n');
      writeFileSync(join(dir, 'apps', 'web', 'next.config.mjs'), 'export default {}\n');
      // A lockfile outside root is not this app's.
      writeFileSync(join(dir, 'package-lock.json'), '{}');
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('detects the lockfile and framework in root and keys on the file content', () => {
      const sourceDir = join(dir, 'apps', 'web');
      const cfg = config({ ...build, root: 'apps/web' });
      const plan = cachePlan(cfg, sourceDir, dir, RUNNER);
      expect(plan?.lockfiles).toEqual(['pnpm-lock.yaml']);
      expect(plan?.paths).toEqual(['~/.local/share/pnpm/store', 'apps/web/.next/cache']);
      expect(plan?.key).toMatch(KEY);
      writeFileSync(join(sourceDir, 'pnpm-lock.yaml'), 'lockfileVersion: 9.0\n# changed\n');
      expect(cachePlan(cfg, sourceDir, dir, RUNNER)?.key).not.toBe(plan?.key);
    });
  });
});

describe('buildEnvironment', () => {
  const vars = {
    app: 'web',
    environment: 'pr-3',
    url: 'https://pr-3.preview.example.com/',
    commit: 'abc123',
  };
  const withheld = [
    'INPUT_SSH-KEY',
    'INPUT_SECRETS',
    'STATE_LOCK_TOKEN',
    'ACTIONS_RUNTIME_TOKEN',
    'ACTIONS_RUNTIME_URL',
    'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
    'ACTIONS_ID_TOKEN_REQUEST_URL',
    'ACTIONS_RESULTS_URL',
    'ACTIONS_CACHE_URL',
    'ACTIONS_CACHE_SERVICE_V2',
    'GITHUB_OUTPUT',
    'GITHUB_STATE',
    'GITHUB_ENV',
    'GITHUB_PATH',
    'GITHUB_STEP_SUMMARY',
    'TOSS_SSH_KEY',
  ];
  const kept = {
    PATH: '/usr/bin:/bin',
    HOME: '/home/runner',
    GITHUB_SHA: 'abc123',
    GITHUB_REF: 'refs/pull/3/merge',
    GITHUB_REPOSITORY: 'o/r',
    CI: 'true',
    NODE_OPTIONS: '--max-old-space-size=4096',
    RUNNER_OS: 'Linux',
  };

  it('withholds inputs, saved state, runner tokens, job files and the SSH key', () => {
    const base: NodeJS.ProcessEnv = { ...kept };
    for (const name of withheld) base[name] = `secret-${name}`;
    const env = buildEnvironment(base, vars);
    for (const name of withheld) expect(env).not.toHaveProperty(name);
    expect(Object.values(env).some((value) => value.startsWith('secret-'))).toBe(false);
  });

  it('keeps ordinary variables and adds TOSS_ENV, TOSS_APP, TOSS_URL and TOSS_COMMIT', () => {
    const env = buildEnvironment({ ...kept, UNSET: undefined }, vars);
    expect(env).toEqual({
      ...kept,
      TOSS_ENV: 'pr-3',
      TOSS_APP: 'web',
      TOSS_URL: 'https://pr-3.preview.example.com/',
      TOSS_COMMIT: 'abc123',
    });
  });

  it("sets TOSS_* over the same names in toss's own environment", () => {
    const env = buildEnvironment(
      { ...kept, TOSS_ENV: 'production', TOSS_APP: 'other', TOSS_URL: 'x', TOSS_COMMIT: 'y' },
      vars,
    );
    expect(env.TOSS_ENV).toBe('pr-3');
    expect(env.TOSS_APP).toBe('web');
    expect(env.TOSS_URL).toBe('https://pr-3.preview.example.com/');
    expect(env.TOSS_COMMIT).toBe('abc123');
  });

  it('withholds by exact name, not by a likeness', () => {
    const env = buildEnvironment(
      { GITHUB_OUTPUT_DIR: 'a', MY_INPUT_X: 'b', TOSS_SSH_KEY_PATH: 'c', ACTIONS_STEP_DEBUG: 'd' },
      vars,
    );
    expect(env).toMatchObject({
      GITHUB_OUTPUT_DIR: 'a',
      MY_INPUT_X: 'b',
      TOSS_SSH_KEY_PATH: 'c',
      ACTIONS_STEP_DEBUG: 'd',
    });
  });
});

interface Call {
  command: string;
  cwd: string;
  env: Record<string, string>;
}

/** A builder whose commands print `lines` and exit with `statuses` in turn (0 when not given). */
function fakeBuilder(
  options: { statuses?: number[]; lines?: string[][]; cache?: BuildCache } = {},
): LocalBuilder & { calls: Call[] } {
  const calls: Call[] = [];
  const run: CommandRunner = async (command, { cwd, env, onLine }) => {
    const index = calls.length;
    calls.push({ command, cwd, env });
    for (const line of options.lines?.[index] ?? []) onLine(line);
    return options.statuses?.[index] ?? 0;
  };
  return { run, cache: options.cache, calls };
}

function recorder(): { events: PipelineEvent[]; sink: (event: PipelineEvent) => void } {
  const events: PipelineEvent[] = [];
  return { events, sink: (event) => events.push(event) };
}

/** Events as short strings: `start build`, `done build (detail)`, `out build: line`, `warning: …`. */
function summary(events: PipelineEvent[]): string[] {
  return events.map((event) => {
    switch (event.type) {
      case 'step-start':
        return `start ${event.step}`;
      case 'step-done':
        return `done ${event.step}${event.detail ? ` (${event.detail})` : ''}`;
      case 'step-fail':
        return `fail ${event.step}`;
      case 'output':
        return `out ${event.step}: ${event.line.replace(/^took \d+\.\d\d s: /, 'took: ')}`;
      case 'warning':
        return `warning: ${event.message}`;
      default:
        return event.type;
    }
  });
}

describe('buildHere', () => {
  const production = envPaths('web', validateEnvName('production', 'environment'));
  const preview = envPaths('web', validateEnvName('pr-3', 'environment'));
  const request = (cfg: TossConfig, builder?: LocalBuilder) => ({
    config: cfg,
    sourceDir: '/checkout/apps/web',
    commit: '0123456789abcdef0123456789abcdef01234567',
    host: '203.0.113.10',
    builder,
  });

  function cache(
    restore: () => Promise<{ detail: string; warning?: string }>,
    log: string[],
  ): BuildCache {
    return {
      restore: () => {
        log.push('restore');
        return restore();
      },
      save: async () => {
        log.push('save');
        return { detail: 'saved 12 MB' };
      },
    };
  }

  it('restores the cache, runs each command in root, and saves the cache only on finish()', async () => {
    const log: string[] = [];
    const builder = fakeBuilder({
      lines: [['added 12 packages'], ['compiled']],
      cache: cache(async () => ({ detail: 'restored 12 MB' }), log),
    });
    const { events, sink } = recorder();
    const done = await buildHere(
      request(config({ build: ['npm ci', 'npm run build'] }), builder),
      production,
      sink,
    );
    expect(builder.calls.map((c) => [c.command, c.cwd])).toEqual([
      ['npm ci', '/checkout/apps/web'],
      ['npm run build', '/checkout/apps/web'],
    ]);
    expect(log).toEqual(['restore']);
    const beforeFinish = summary(events);
    expect(beforeFinish).toEqual([
      'start cache-restore',
      'done cache-restore (restored 12 MB)',
      'start build',
      'out build: $ npm ci',
      'out build: added 12 packages',
      'out build: took: npm ci',
      'out build: $ npm run build',
      'out build: compiled',
      'out build: took: npm run build',
      'done build (2 command(s) in /checkout/apps/web)',
    ]);
    await done.finish();
    expect(log).toEqual(['restore', 'save']);
    expect(summary(events).slice(beforeFinish.length)).toEqual([
      'start cache-save',
      'done cache-save (saved 12 MB)',
    ]);
  });

  it("says each command's time as 'took N s: <command>'", async () => {
    const { events, sink } = recorder();
    await buildHere(request(config({ build: ['make'] }), fakeBuilder()), production, sink);
    const took = events.flatMap((e) =>
      e.type === 'output' && e.line.startsWith('took') ? [e.line] : [],
    );
    expect(took).toHaveLength(1);
    expect(took[0]).toMatch(/^took \d+\.\d{2} s: make$/);
  });

  it('gives the commands TOSS_* and withholds the action inputs from them', async () => {
    vi.stubEnv('INPUT_SSH-KEY', 'private key');
    vi.stubEnv('TOSS_SSH_KEY', 'private key');
    vi.stubEnv('TOSS_APP', 'not-this');
    try {
      const builder = fakeBuilder();
      await buildHere(request(config({ build: ['true'] }), builder), production, () => {});
      const env = builder.calls[0]?.env ?? {};
      expect(env).toMatchObject({
        TOSS_ENV: 'production',
        TOSS_APP: 'web',
        TOSS_URL: 'https://production.web.203-0-113-10.sslip.io/',
        TOSS_COMMIT: '0123456789abcdef0123456789abcdef01234567',
      });
      expect(env).not.toHaveProperty('INPUT_SSH-KEY');
      expect(env).not.toHaveProperty('TOSS_SSH_KEY');
      expect(env.PATH).toBe(process.env.PATH);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("gives a preview of an app with a domain its preview URL, and plain HTTP with tls 'off'", async () => {
    const urls: string[] = [];
    for (const extra of [{}, { tls: 'off' }]) {
      const builder = fakeBuilder();
      await buildHere(
        request(config({ build: ['true'], domain: 'example.com', ...extra }), builder),
        preview,
        () => {},
      );
      urls.push(builder.calls[0]?.env.TOSS_URL ?? '');
    }
    expect(urls).toEqual(['https://pr-3.preview.example.com/', 'http://pr-3.preview.example.com/']);
  });

  it('goes on building when the cache cannot be restored, with a warning', async () => {
    const log: string[] = [];
    const builder = fakeBuilder({
      cache: cache(() => Promise.reject(new Error('cache service unreachable')), log),
    });
    const { events, sink } = recorder();
    const done = await buildHere(request(config({ build: ['npm ci'] }), builder), production, sink);
    expect(summary(events).slice(0, 3)).toEqual([
      'start cache-restore',
      'done cache-restore (failed)',
      'warning: Error: cache service unreachable',
    ]);
    expect(builder.calls).toHaveLength(1);
    expect(summary(events)).toContain('done build (1 command(s) in /checkout/apps/web)');
    await done.finish();
    expect(log).toEqual(['restore', 'save']);
  });

  it('passes a warning the cache gives along, and a rejected save never throws', async () => {
    const builder = fakeBuilder({
      cache: {
        restore: async () => ({ detail: 'nothing to restore', warning: 'cache miss is slow' }),
        save: () => Promise.reject(new Error('quota exceeded')),
      },
    });
    const { events, sink } = recorder();
    const done = await buildHere(request(config({ build: ['npm ci'] }), builder), production, sink);
    await expect(done.finish()).resolves.toBeUndefined();
    const lines = summary(events);
    expect(lines.slice(0, 3)).toEqual([
      'start cache-restore',
      'done cache-restore (nothing to restore)',
      'warning: cache miss is slow',
    ]);
    expect(lines.slice(-3)).toEqual([
      'start cache-save',
      'done cache-save (failed)',
      'warning: Error: quota exceeded',
    ]);
  });

  it('stops at the first failing command with its index, status and output, and saves no cache', async () => {
    const log: string[] = [];
    const builder = fakeBuilder({
      statuses: [0, 2, 0],
      lines: [['ok'], ['compiling', 'src/a.ts:1: error TS2322', 'npm ERR! code 2']],
      cache: cache(async () => ({ detail: 'restored' }), log),
    });
    const { events, sink } = recorder();
    const error = await buildHere(
      request(config({ build: ['npm ci', 'npm run build', 'npm test'] }), builder),
      production,
      sink,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    const stepError = error as StepError;
    expect(stepError.step).toBe('build');
    expect(stepError.cause).toBeInstanceOf(TossError);
    expect(stepError.message).toContain('build[1] `npm run build` exited with 2');
    expect(stepError.message).toContain('nothing was uploaded');
    expect(stepError.message).toMatch(/compiling\nsrc\/a\.ts:1: error TS2322\nnpm ERR! code 2$/);
    // The first command's output is not the failing command's tail.
    expect(stepError.message).not.toMatch(/\nok\n/);
    expect((stepError.cause as TossError).hint).toContain('toss.json build');
    expect(builder.calls.map((c) => c.command)).toEqual(['npm ci', 'npm run build']);
    expect(summary(events).at(-1)).toBe('fail build');
    expect(log).toEqual(['restore']);
  });

  it('keeps only the last lines of a long failing output', async () => {
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i}`);
    const builder = fakeBuilder({ statuses: [1], lines: [lines] });
    const error = (await buildHere(
      request(config({ build: ['noisy'] }), builder),
      production,
      () => {},
    ).catch((e: unknown) => e)) as Error;
    expect(error.message).toContain('line 99');
    expect(error.message).not.toContain('line 0\n');
  });

  it('says a command killed by a signal was killed, with the signal number', async () => {
    const builder = fakeBuilder({ statuses: [137] });
    const error = await buildHere(
      request(config({ build: ['node build.js'] }), builder),
      production,
      () => {},
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    expect((error as Error).message).toContain('build[0] `node build.js` was killed (signal 9)');
    expect((error as Error).message).not.toContain('exited with');
  });

  it('does nothing without build, and finish() is a no-op', async () => {
    const log: string[] = [];
    const builder = fakeBuilder({ cache: cache(async () => ({ detail: 'restored' }), log) });
    const { events, sink } = recorder();
    const done = await buildHere(request(config(), builder), production, sink);
    await done.finish();
    expect(builder.calls).toEqual([]);
    expect(log).toEqual([]);
    expect(events).toEqual([]);
  });

  it('refuses a build when nothing here can run it', async () => {
    const { events, sink } = recorder();
    const error = await buildHere(request(config({ build: ['npm ci'] })), production, sink).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TossError);
    expect((error as Error).message).toContain('build');
    expect(events).toEqual([]);
  });
});

/** The runner checks shared by the CLI's and the action's command runners. */
function commandRunnerChecks(name: string, run: CommandRunner) {
  describe(name, () => {
    let dir = '';
    beforeAll(() => {
      dir = realpathSync(mkdtempSync(join(tmpdir(), 'toss-runner-')));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    async function collect(command: string, env: Record<string, string> = {}) {
      const lines: string[] = [];
      const status = await run(command, {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
        onLine: (line) => lines.push(line),
      });
      return { status, lines };
    }

    it('passes lines from stdout and stderr to onLine', async () => {
      const { status, lines } = await collect('echo out1; echo err1 >&2; echo out2');
      expect(status).toBe(0);
      expect([...lines].sort()).toEqual(['err1', 'out1', 'out2']);
      expect(lines.indexOf('out1')).toBeLessThan(lines.indexOf('out2'));
    });

    it('passes the exit status through', async () => {
      expect((await collect('exit 3')).status).toBe(3);
      expect((await collect('false')).status).toBe(1);
    });

    it('runs in cwd with exactly the environment given', async () => {
      const { lines } = await collect('pwd; echo "X=$X"; echo "HOME=[$HOME]"', {
        X: 'value',
      });
      expect(lines).toEqual([dir, 'X=value', 'HOME=[]']);
    });

    it('never evaluates a value in the environment as shell code', async () => {
      const marker = join(dir, 'evaluated');
      const value = `"; touch ${marker}; echo "$(touch ${marker})\`touch ${marker}\`'`;
      const { status, lines } = await collect('printf "%s\\n" "$X"', { X: value });
      expect(status).toBe(0);
      expect(lines).toEqual([value]);
      expect(existsSync(marker)).toBe(false);
    });
  });
}

commandRunnerChecks('runShellCommand', runShellCommand);
commandRunnerChecks('execCommand', execCommand);

describe('runShellCommand only', () => {
  const opts = () => ({ cwd: tmpdir(), env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });

  it('flushes a last line without a newline', async () => {
    const lines: string[] = [];
    const status = await runShellCommand('printf "a\\nlast"; printf "e-last" >&2', {
      ...opts(),
      onLine: (line) => lines.push(line),
    });
    expect(status).toBe(0);
    expect([...lines].sort()).toEqual(['a', 'e-last', 'last']);
  });

  it('reports a command killed by a signal as 128 + the signal number', async () => {
    expect(await runShellCommand('kill -TERM $$', { ...opts(), onLine: () => {} })).toBe(143);
  });

  it('closes stdin, so a command reading it ends at once', async () => {
    const started = performance.now();
    // `timeout` bounds the test if stdin were left open: it would then exit with 124.
    const status = await runShellCommand('timeout 2 cat', { ...opts(), onLine: () => {} });
    expect(status).toBe(0);
    expect(performance.now() - started).toBeLessThan(1500);
  });
});

describe('execCommand only', () => {
  const opts = () => ({ cwd: tmpdir(), env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });

  it('prints neither the command line nor its output itself', async () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
      written.push(String(chunk));
      return true;
    });
    const lines: string[] = [];
    try {
      await execCommand('echo marker-out-41; echo marker-err-41 >&2', {
        ...opts(),
        onLine: (line) => lines.push(line),
      });
    } finally {
      spy.mockRestore();
    }
    expect([...lines].sort()).toEqual(['marker-err-41', 'marker-out-41']);
    const printed = written.join('');
    expect(printed).not.toContain('[command]');
    expect(printed).not.toContain('/bin/sh');
    expect(printed).not.toContain('marker-');
  });

  // What CommandRunner promises and runShellCommand does, though @actions/exec 3.0.0 alone does
  // otherwise: execCommand splits the raw streams itself, gives an empty input and maps a null
  // status.

  // @actions/exec emits a last unterminated line on its own emitter, not to listeners.stdline.
  it('flushes a last line without a newline', async () => {
    const lines: string[] = [];
    await execCommand('echo first; printf "error: no newline"', {
      ...opts(),
      onLine: (line) => lines.push(line),
    });
    expect(lines).toEqual(['first', 'error: no newline']);
  });

  // @actions/exec resolves with the 'close' event's code, null for a signal, with no signal
  // number: execCommand says 128, which the build's error reads as "killed by a signal".
  it('reports a command killed by a signal as 128', async () => {
    expect(await execCommand('kill -TERM $$', { ...opts(), onLine: () => {} })).toBe(128);
  });

  // exec's `input` option writes to stdin after a command this quick may have exited: an EPIPE
  // it leaves unhandled, which ends the whole process. Stdin comes from /dev/null instead.
  it('runs commands that exit at once, many times over, without a write to their stdin', async () => {
    for (let i = 0; i < 30; i++) {
      expect(await execCommand('true', { ...opts(), onLine: () => {} })).toBe(0);
    }
  });

  // @actions/exec leaves the child's stdin an open pipe unless `input` is given.
  it('closes stdin, so a command reading it ends at once', async () => {
    const status = await execCommand('timeout 1 cat', { ...opts(), onLine: () => {} });
    expect(status).toBe(0);
  });
});
