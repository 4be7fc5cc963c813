/**
 * A static site on a real host: Caddy serves the release's directory as files, with no process
 * of toss's running for it. Deployed, redeployed and rolled back under a 50 ms probe without a
 * failed request; a preview of its own; a site with a link Caddy could follow out of it, or
 * without its directory, is refused while the live one keeps serving.
 */
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
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
  toss,
} from './support/app.js';

const APP = 'pages';
let host: TestHost;
let app: AppCheckout;
const name = (env = 'production') => sslipName(host, APP, env);

async function deploy(env = 'production'): Promise<void> {
  const run = await toss(host, ['deploy', env], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
}

/** Deploys (or rolls back) under a 50 ms probe and expects no failed request. */
async function underProbe(run: () => Promise<void>): Promise<Set<string>> {
  const probe = startProbe(host, name(), 50);
  await run();
  await new Promise((r) => setTimeout(r, 500));
  const result = await probe.stop();
  expect(result.failed, result.failures.join('\n')).toBe(0);
  expect(result.ok).toBeGreaterThan(5);
  return result.bodies;
}

async function tossUnits(): Promise<string> {
  return inHost(host, ['systemctl', 'list-units', '--all', '--plain', '--no-legend', 'toss*']);
}

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, {
    app: APP,
    startCommand: undefined,
    deployScript: undefined,
    persistentDirs: [],
    healthCheck: undefined,
    static: 'public',
  });
  mkdirSync(join(app.dir, 'public'));
  await app.commit('public/index.html', '<h1>version 1</h1>\n');
});
afterAll(async () => {
  await host?.shutdown();
});

describe('a static site', () => {
  it('is served by Caddy from the release, with no unit of its own', async () => {
    await deploy();
    const res = await fetchSite(host, name(), '/');
    expect(res.status).toBe(200);
    expect(res.body).toBe('<h1>version 1</h1>\n');
    // Only the site directory is served: the rest of the release is not.
    expect((await fetchSite(host, name(), '/toss.json')).status).toBe(404);
    expect(await tossUnits()).not.toContain(APP);
    // Day two knows it has no process: no drift about a unit or a service.
    const list = await toss(host, ['list'], { cwd: app.dir });
    expect(list.code, list.output).toBe(0);
    expect(list.stdout).toMatch(/production\s.*static/);
    const status = await toss(host, ['status'], { cwd: app.dir });
    expect(status.code, status.output).toBe(0);
    expect(status.output).not.toMatch(/unit template|not active|has failed/);
  });

  it('redeploys and rolls back without a failed request', async () => {
    await app.commit('public/index.html', '<h1>version 2</h1>\n');
    const redeployed = await underProbe(() => deploy());
    expect(redeployed).toContain('<h1>version 2</h1>\n');
    const rolledBack = await underProbe(async () => {
      const run = await toss(host, ['rollback', 'production'], { cwd: app.dir });
      expect(run.code, run.output).toBe(0);
    });
    expect(rolledBack).toContain('<h1>version 1</h1>\n');
    expect((await fetchSite(host, name(), '/')).body).toBe('<h1>version 1</h1>\n');
    expect(await tossUnits()).not.toContain(APP);
  });

  it('gets a preview of its own', async () => {
    await app.commit('public/index.html', '<h1>preview</h1>\n');
    await deploy('pr-3');
    expect((await fetchSite(host, name('pr-3'), '/')).body).toBe('<h1>preview</h1>\n');
    expect((await fetchSite(host, name(), '/')).body).toBe('<h1>version 1</h1>\n');
  });

  it('refuses a site with a link out of it, or without its directory; the live one serves on', async () => {
    symlinkSync('/etc/caddy/Caddyfile', join(app.dir, 'public', 'config.txt'));
    await app.commit('public/index.html', '<h1>version 3</h1>\n');
    const linked = await toss(host, ['deploy', 'production'], { cwd: app.dir });
    expect(linked.code, linked.output).toBe(1);
    expect(linked.output).toMatch(/symbolic links/);
    expect(linked.output).toContain('./config.txt');

    rmSync(join(app.dir, 'public'), { recursive: true });
    await app.commit('README.md', 'no site here\n');
    const missing = await toss(host, ['deploy', 'production'], { cwd: app.dir });
    expect(missing.code, missing.output).toBe(1);
    expect(missing.output).toMatch(/public is not a directory of the release/);
    expect((await fetchSite(host, name(), '/')).body).toBe('<h1>version 1</h1>\n');
    expect((await fetchSite(host, name(), '/config.txt')).status).toBe(404);
  });
});
