/**
 * The framework matrix: examples/express, sveltekit, flask, rack, go and static, each with its
 * toss.json as a user wrote it (only the server and `tls: internal` set for the test host),
 * deployed with the real CLI, all at once, each to a real host of its own. Every app serves
 * production and a preview over verified HTTPS, writes in its working directory without
 * persistentDirs, is redeployed while a probe asks for its page every 50 ms without one failed
 * request, and refuses `readOnly: true` naming persistentDirs. The static site runs no process at
 * all, and rolls back as smoothly as it deploys.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import {
  type AppCheckout,
  fetchSite,
  inHost,
  makeApp,
  sslipName,
  startProbe,
  type TossRun,
  toss,
} from './support/app.js';
import { readStateOn } from './support/reliability.js';

const SERVER_APPS = ['express', 'sveltekit', 'flask', 'rack', 'go'] as const;
const EXAMPLES = [...SERVER_APPS, 'static'] as const;
type Example = (typeof EXAMPLES)[number];

/** What each example's page says, so a page from the wrong app (or none) is told apart. */
const HEADLINES: Record<Example, string> = {
  express: 'Hello from Express',
  sveltekit: 'Hello from SvelteKit',
  flask: 'Hello from Flask',
  rack: 'Hello from Rack',
  go: 'Hello from Go',
  static: 'Hello from a static site',
};

/**
 * The builds run here, as on a developer's machine: npm's and Go's caches are this machine's own
 * (the CLI is given a fresh HOME), so installs and compiles are warm after the first run.
 */
const BUILD_CACHES = {
  npm_config_cache: process.env.npm_config_cache ?? join(homedir(), '.npm'),
  GOCACHE: process.env.GOCACHE ?? join(homedir(), '.cache', 'go-build'),
};

/*
 * A host per app. On one host, two apps deploying for the first time at the same moment can
 * choose the same ports (the later one is refused), and each Caddy reload leaves new TLS
 * handshakes without a certificate until Caddy 2.6 has loaded every site's again, a window that
 * grows with the number of sites on the server; neither is what this file is about.
 */
const hosts = {} as Record<Example, TestHost>;
const apps = {} as Record<Example, AppCheckout>;
const siteName = (app: Example, env: string) => sslipName(hosts[app], app, env);

beforeAll(async () => {
  const booted = await bootHosts(EXAMPLES.length);
  for (const [i, name] of EXAMPLES.entries()) {
    hosts[name] = booted[i] as TestHost;
    apps[name] = await makeApp(hosts[name], {}, `git@github.com:octo/${name}.git`, name);
  }
});
afterAll(async () => {
  await Promise.all(Object.values(hosts).map((host) => host.shutdown()));
});

/**
 * Runs `check` for each example at once and fails naming every example whose check failed (one
 * failing app does not hide what the others did).
 */
async function eachApp(
  names: readonly Example[],
  check: (name: Example) => Promise<void>,
): Promise<void> {
  const failures = await Promise.all(
    names.map((name) =>
      check(name).then(
        () => undefined,
        (error: Error) => `${name}: ${error.message}`,
      ),
    ),
  );
  const failed = failures.filter((failure) => failure !== undefined);
  if (failed.length > 0) throw new Error(failed.join('\n\n'));
}

function tossIn(name: Example, args: string[]): Promise<TossRun> {
  return toss(hosts[name], args, { cwd: apps[name].dir, env: BUILD_CACHES });
}

async function deployOk(name: Example, env: string): Promise<TossRun> {
  const run = await tossIn(name, ['deploy', env]);
  expect(run.code, run.output).toBe(0);
  return run;
}

async function expectPage(name: Example, env: string): Promise<string> {
  const page = await fetchSite(hosts[name], siteName(name, env));
  expect(page.status, page.body).toBe(200);
  expect(page.body).toContain(HEADLINES[name]);
  return page.body;
}

/** Redeploys (or rolls back) while a probe asks for the page every 50 ms; none may fail. */
async function withoutFailedRequests(name: Example, args: string[]): Promise<Set<string>> {
  const probe = startProbe(hosts[name], siteName(name, 'production'), 50);
  const run = await tossIn(name, args);
  const result = await probe.stop();
  expect(run.code, run.output).toBe(0);
  if (result.failed > 0) {
    // Caddy's side of it, for a failure that only shows now and then.
    const caddy = await inHost(hosts[name], ['journalctl', '-u', 'caddy', '-n', '40', '-o', 'cat']);
    expect(result.failed, `${result.failures.join('\n')}\n--- caddy ---\n${caddy}`).toBe(0);
  }
  expect(result.ok).toBeGreaterThan(0);
  return result.bodies;
}

async function liveRelease(name: Example, env: string): Promise<string> {
  const state = await readStateOn(hosts[name], name);
  const live = state.environments[env]?.release;
  if (live === undefined) throw new Error(`${name} has no ${env} release in state.json`);
  return `/srv/${name}/${env}/releases/${live}`;
}

describe('the framework examples on a real server', () => {
  it('deploys each to production, page and health route over verified HTTPS', async () => {
    await eachApp(EXAMPLES, async (name) => {
      await deployOk(name, 'production');
      await expectPage(name, 'production');
      if (name !== 'static') {
        expect(await fetchSite(hosts[name], siteName(name, 'production'), '/up')).toEqual({
          status: 200,
          body: 'ok\n',
        });
      }
    });
  }, 300_000);

  it('installed what flask and rack declare in dependencies, as production deploys do', async () => {
    await eachApp(['flask', 'rack'], async (name) => {
      const declared = apps[name].config().dependencies as Record<string, string>;
      const applied = (await readStateOn(hosts[name], name)).dependencies;
      expect(Object.keys(declared).length).toBeGreaterThan(0);
      for (const [dependency, command] of Object.entries(declared)) {
        expect(applied[dependency]?.command).toBe(command);
      }
    });
  });

  it('deploys a preview of each beside production', async () => {
    await eachApp(EXAMPLES, async (name) => {
      await deployOk(name, 'pr-1');
      await expectPage(name, 'pr-1');
      await expectPage(name, 'production');
    });
  }, 300_000);

  it('lets each app write in its working directory, with no persistentDirs', async () => {
    await eachApp(SERVER_APPS, async (name) => {
      expect(apps[name].config().persistentDirs).toBeUndefined();
      const host = hosts[name];
      const visits = async () => fetchSite(host, siteName(name, 'production'), '/visits');
      expect(await visits()).toEqual({ status: 200, body: 'visits: 1\n' });
      expect(await visits()).toEqual({ status: 200, body: 'visits: 2\n' });
      const release = await liveRelease(name, 'production');
      // A plain directory of the release, written by the app as it ran.
      expect(await inHost(host, ['stat', '-c', '%F', `${release}/tmp`])).toBe('directory\n');
      expect(await inHost(host, ['cat', `${release}/tmp/visits.txt`])).toBe('2\n');
      expect(await inHost(host, ['cat', `${release}/tmp/boot.log`])).toMatch(/ pid \d+\n/);
      // The preview writes in its own release.
      expect(await fetchSite(host, siteName(name, 'pr-1'), '/visits')).toEqual({
        status: 200,
        body: 'visits: 1\n',
      });
    });
  });

  // The two redeploys below touch different hosts, so they run side by side.
  it.concurrent('redeploys each production with zero failed requests; what the app wrote stays with its release', async () => {
    await eachApp(SERVER_APPS, async (name) => {
      const before = await liveRelease(name, 'production');
      // A new commit, as a push would bring: the same tree again is "unchanged, still live".
      await apps[name].commit('VERSION', '2\n');
      await withoutFailedRequests(name, ['deploy', 'production']);
      expect(await liveRelease(name, 'production')).not.toBe(before);
      await expectPage(name, 'production');
      // The new release starts from what was uploaded: its counter starts again.
      expect(await fetchSite(hosts[name], siteName(name, 'production'), '/visits')).toEqual({
        status: 200,
        body: 'visits: 1\n',
      });
    });
  }, 300_000);

  it.concurrent('redeploys and rolls back the static site with zero failed requests, running no process', async () => {
    const first = await expectPage('static', 'production');
    const page = readFileSync(join(apps.static.dir, 'site/index.html'), 'utf8');
    await apps.static.commit(
      'site/index.html',
      page.replace('Hello from a static site', 'Hello from a static site, again'),
    );
    const redeployed = await withoutFailedRequests('static', ['deploy', 'production']);
    const second = await expectPage('static', 'production');
    expect(second).toContain('Hello from a static site, again');
    expect(redeployed).toContain(second);
    const rolledBack = await withoutFailedRequests('static', ['rollback', 'production']);
    expect(await expectPage('static', 'production')).toBe(first);
    expect(rolledBack).toContain(first);
    const tossUnits = (name: Example) =>
      inHost(hosts[name], ['systemctl', 'list-units', '--all', '--no-legend', '--plain', 'toss-*']);
    expect(await tossUnits('static')).toBe('');
    // An app with a process does have units: the listing is not empty for want of any at all.
    expect(await tossUnits('go')).toContain('toss-go-production@');
  }, 180_000);

  it('refuses readOnly: true for each app that writes its release, naming persistentDirs', async () => {
    await eachApp(SERVER_APPS, async (name) => {
      const live = await liveRelease(name, 'production');
      // A crash loop is only given up on when the check times out: 5 s instead of 30.
      apps[name].configure({ readOnly: true, healthCheck: { path: '/up', timeout: 5 } });
      const run = await tossIn(name, ['deploy', 'production']);
      expect(run.code, run.output).toBe(1);
      expect(run.stderr, run.output).toMatch(/persistentDirs/);
      // Production kept serving the release that was live.
      expect(await liveRelease(name, 'production')).toBe(live);
      await expectPage(name, 'production');
    });
  }, 300_000);
});
