/**
 * Self-test of the fake Actions cache service (test/support/fake-cache),
 * driven in this process by the real client the action uses (`@actions/cache`,
 * `saveCache` and `restoreCache`), with archives going through azurite.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restoreCache, saveCache } from '@actions/cache';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type FakeCache, startFakeCache } from '../support/fake-cache/server.js';

const MAIN = 'refs/heads/main';
const FEATURE = 'refs/heads/feature';

describe('fake Actions cache service', { timeout: 60_000 }, () => {
  let fake: FakeCache;
  let workspace: string;
  let runnerTemp: string;
  /** The directory the tests cache; the same path on every branch, as on a runner. */
  let deps: string;
  /** What the client wrote to standard output: its log and workflow commands. */
  let log: string[];
  let restoreEnv: () => void;

  beforeAll(async () => {
    // The first run in a machine may fetch Node 24 for azurite (~30 s).
    fake = await startFakeCache();
    workspace = await mkdtemp(join(tmpdir(), 'toss-cache-workspace-'));
    runnerTemp = await mkdtemp(join(tmpdir(), 'toss-cache-temp-'));
    deps = join(workspace, 'node_modules');
  }, 120_000);

  afterAll(async () => {
    await fake?.close();
    await rm(workspace, { recursive: true, force: true });
    await rm(runnerTemp, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await rm(deps, { recursive: true, force: true });
    log = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      log.push(String(chunk));
      return true;
    }) as typeof process.stdout.write);
    restoreEnv = () => {};
  });

  afterEach(() => {
    restoreEnv();
    vi.restoreAllMocks();
  });

  /** Makes this process look like a job on `ref` to the cache client. */
  function runOn(ref: string, readOnly = false): void {
    restoreEnv();
    restoreEnv = useEnv({
      ...fake.env(ref, { readOnly }),
      RUNNER_TEMP: runnerTemp,
      GITHUB_WORKSPACE: workspace,
      // Anything else would make the client take this for GitHub Enterprise Server.
      GITHUB_SERVER_URL: 'https://github.com',
      // Set by a runner that limits the cache; unset means read and write.
      ACTIONS_CACHE_MODE: undefined,
    });
  }

  async function writeDeps(label: string): Promise<Map<string, string>> {
    await rm(deps, { recursive: true, force: true });
    await mkdir(join(deps, 'left-pad', 'lib'), { recursive: true });
    await writeFile(
      join(deps, 'left-pad', 'package.json'),
      `{"name":"left-pad","from":"${label}"}`,
    );
    await writeFile(join(deps, 'left-pad', 'lib', 'index.js'), `module.exports = '${label}';\n`);
    await writeFile(join(deps, '.package-lock.json'), Buffer.from(label.repeat(5000)));
    return snapshot(deps);
  }

  function warnings(): string[] {
    return log.filter((line) => /^::(warning|error)::/.test(line));
  }

  it('saves on the default branch and restores the same files there by the exact key', async () => {
    runOn(MAIN);
    const saved = await writeDeps('main');
    const entryId = await saveCache([deps], 'deps-exact-1');
    expect(entryId).toBeGreaterThan(0);
    expect(fake.entries()).toContainEqual(
      expect.objectContaining({ key: 'deps-exact-1', scope: MAIN, committed: true }),
    );

    await rm(deps, { recursive: true });
    const matched = await restoreCache([deps], 'deps-exact-1', ['deps-exact-']);
    expect(matched).toBe('deps-exact-1');
    expect(await snapshot(deps)).toEqual(saved);
    expect(log.join('')).toContain('Cache hit for: deps-exact-1');
    expect(fake.calls.slice(-3).map((c) => [c.method, c.outcome])).toEqual([
      ['CreateCacheEntry', 'reserved'],
      ['FinalizeCacheEntryUpload', 'committed'],
      ['GetCacheEntryDownloadURL', 'hit'],
    ]);
    expect(warnings()).toEqual([]);
    expect(fake.violations).toEqual([]);
  });

  it("restores the default branch's entry on a branch through a restore key, and keeps the branch's saves to itself", async () => {
    runOn(MAIN);
    const fromMain = await writeDeps('main');
    expect(await saveCache([deps], 'deps-branch-main')).toBeGreaterThan(0);

    runOn(FEATURE);
    await rm(deps, { recursive: true });
    expect(await restoreCache([deps], 'deps-branch-feature', ['deps-branch-'])).toBe(
      'deps-branch-main',
    );
    expect(await snapshot(deps)).toEqual(fromMain);
    expect(log.join('')).toContain('Cache hit for restore-key: deps-branch-main');

    const fromFeature = await writeDeps('feature');
    expect(await saveCache([deps], 'deps-branch-feature')).toBeGreaterThan(0);
    expect(fake.entries()).toContainEqual(
      expect.objectContaining({ key: 'deps-branch-feature', scope: FEATURE, committed: true }),
    );
    await rm(deps, { recursive: true });
    expect(await restoreCache([deps], 'deps-branch-feature', ['deps-branch-'])).toBe(
      'deps-branch-feature',
    );
    expect(await snapshot(deps)).toEqual(fromFeature);

    // The branch's entry is newer and matches the prefix, but main cannot read it.
    runOn(MAIN);
    await rm(deps, { recursive: true });
    expect(await restoreCache([deps], 'deps-branch-feature')).toBeUndefined();
    expect(await restoreCache([deps], 'deps-branch-feature', ['deps-branch-'])).toBe(
      'deps-branch-main',
    );
    expect(await snapshot(deps)).toEqual(fromMain);
    expect(warnings()).toEqual([]);
    expect(fake.violations).toEqual([]);
  });

  it('turns down a second save of a key the scope holds without the client throwing', async () => {
    runOn(MAIN);
    await writeDeps('first');
    expect(await saveCache([deps], 'deps-twice')).toBeGreaterThan(0);
    await writeDeps('second');
    expect(await saveCache([deps], 'deps-twice')).toBe(-1);

    expect(fake.entries().filter((e) => e.key === 'deps-twice')).toHaveLength(1);
    expect(fake.calls.at(-1)).toMatchObject({
      method: 'CreateCacheEntry',
      outcome: 'exists',
      status: 409,
    });
    // The client reports the conflict as information, not as a warning.
    expect(log.join('')).toContain(
      'Failed to save: Unable to reserve cache with key deps-twice, another job may be creating this cache.',
    );
    expect(warnings()).toEqual([]);
    expect(fake.violations).toEqual([]);
  });

  it('denies saves to a run whose token may only read, which the client warns about', async () => {
    runOn(FEATURE, true);
    await writeDeps('untrusted');
    expect(await saveCache([deps], 'deps-read-only')).toBe(-1);
    expect(fake.entries().some((e) => e.key === 'deps-read-only')).toBe(false);
    expect(fake.calls.at(-1)).toMatchObject({ outcome: 'write-denied', status: 200 });
    expect(warnings()).toEqual([
      expect.stringContaining(
        'Failed to save: Unable to reserve cache with key deps-read-only. More details: cache write denied:',
      ),
    ]);
    expect(fake.violations).toEqual([]);
  });

  it('turns an outage (HTTP 500) into a cache miss and an unsaved cache, after five attempts each', async () => {
    runOn(MAIN);
    const saved = await writeDeps('before the outage');
    expect(await saveCache([deps], 'deps-outage')).toBeGreaterThan(0);
    const before = fake.calls.length;

    fake.failWith(500);
    try {
      await rm(deps, { recursive: true });
      expect(await withoutBackoff(() => restoreCache([deps], 'deps-outage'))).toBeUndefined();
      await writeDeps('during the outage');
      expect(await withoutBackoff(() => saveCache([deps], 'deps-outage-2'))).toBe(-1);
    } finally {
      fake.failWith(null);
    }

    const during = fake.calls.slice(before);
    expect(during.map((c) => `${c.method} ${c.status} ${c.outcome}`)).toEqual([
      ...Array(5).fill('GetCacheEntryDownloadURL 500 failed'),
      ...Array(5).fill('CreateCacheEntry 500 failed'),
    ]);
    const text = log.join('');
    expect(text).toContain('Attempt 1 of 5 failed with error: Failed request: (500)');
    expect(text).toContain('Retrying request in 3000 ms');
    expect(warnings()).toEqual([
      expect.stringContaining(
        '::warning::Failed to restore: Failed to GetCacheEntryDownloadURL: Failed to make request after 5 attempts',
      ),
    ]);
    // A save that never got its upload URL is reported as a reservation conflict.
    expect(text).toContain('Failed to save: Unable to reserve cache with key deps-outage-2');
    expect(fake.entries().some((e) => e.key === 'deps-outage-2')).toBe(false);

    // Once the service answers again, so does the cache.
    await rm(deps, { recursive: true, force: true });
    expect(await restoreCache([deps], 'deps-outage')).toBe('deps-outage');
    expect(await snapshot(deps)).toEqual(saved);
    expect(fake.violations).toEqual([]);
  });

  it('answers what the real client never sends with a Twirp error and a violation', async () => {
    const method = `${fake.url}twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL`;
    const version = 'a'.repeat(64);
    const authorization = `Bearer ${fake.tokenFor(MAIN)}`;
    const post = (url: string, body: unknown, headers: Record<string, string>) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }).then(async (res) => ({
        status: res.status,
        body: (await res.json()) as { msg?: string },
      }));

    expect(await post(method, { key: 'k', version, restore_key: [] }, { authorization })).toEqual({
      status: 400,
      body: { code: 'malformed', msg: expect.stringContaining('restore_key') },
    });
    expect(await post(method, { key: 'k', version }, {})).toEqual({
      status: 401,
      body: { code: 'unauthenticated', msg: 'no "Authorization: Bearer" header' },
    });
    expect(await post(method, { key: 'k', version }, { authorization: 'Bearer x.y' })).toEqual({
      status: 401,
      body: { code: 'unauthenticated', msg: 'the token has 2 parts, not 3' },
    });
    expect(await post(method, { key: 'k', version: 'v1' }, { authorization })).toEqual({
      status: 400,
      body: { code: 'invalid_argument', msg: 'invalid cache version: "v1"' },
    });
    const legacy = await post(`${fake.url}_apis/artifactcache/caches`, { key: 'k' }, {});
    expect(legacy.status).toBe(404);
    expect(legacy.body.msg).toContain('version 1 cache service');
    // A well-formed call of a key nobody saved is a plain miss.
    expect(await post(method, { key: 'k', version }, { authorization })).toEqual({
      status: 200,
      body: { ok: false, signed_download_url: '', matched_key: '' },
    });

    const violations = fake.violations.splice(0);
    expect(violations).toHaveLength(5);
    expect(violations[0]).toContain('restore_key');
  });

  // Last: it stops the blob storage the other tests share.
  it('turns a restore whose archive cannot be fetched into a miss with a warning', async () => {
    runOn(MAIN);
    await writeDeps('stored');
    expect(await saveCache([deps], 'deps-unreachable')).toBeGreaterThan(0);
    await fake.stopBlobs();

    await rm(deps, { recursive: true });
    expect(await withoutBackoff(() => restoreCache([deps], 'deps-unreachable'))).toBeUndefined();
    expect(fake.calls.at(-1)).toMatchObject({ outcome: 'hit', matchedKey: 'deps-unreachable' });
    expect(warnings()).toEqual([
      expect.stringMatching(
        /^::warning::Failed to restore: downloadCache failed: connect ECONNREFUSED 127\.0\.0\.1:\d+/,
      ),
    ]);
    expect(await snapshot(workspace)).toEqual(new Map());
    expect(fake.violations).toEqual([]);
  });
});

/**
 * Sets environment variables (undefined removes one) and returns what puts
 * the previous values back.
 */
function useEnv(vars: Record<string, string | undefined>): () => void {
  const previous = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(vars);
  return () => apply(previous);
}

/** Every file under `dir` by its relative path, with its content in base64. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(path.slice(dir.length + 1), (await readFile(path)).toString('base64'));
  }
  return new Map([...files].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * Runs `work` with timers faked and moved on whenever the process has nothing
 * else to do, so the seconds the client sleeps between attempts pass at once.
 * The client's retry settings cannot be changed: `saveCache` and `restoreCache`
 * build their service client without options and read no variable for them.
 */
async function withoutBackoff<T>(work: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  try {
    let settled = false;
    const result = work().finally(() => {
      settled = true;
    });
    result.catch(() => {});
    while (!settled) {
      await new Promise((resolve) => setImmediate(resolve));
      await vi.advanceTimersByTimeAsync(100);
    }
    return await result;
  } finally {
    vi.useRealTimers();
  }
}
