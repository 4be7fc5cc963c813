/**
 * Failed deploys leave production as it was: a failing deployScript step and a
 * release that crashes at start both exit 1 with the reason, while a 50 ms probe on the live site
 * sees no failure and no new body; nothing of the failed release remains; a re-run converges.
 * Also: what the app writes in a persistentDir survives the next release.
 */
import { readFileSync } from 'node:fs';
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

let host: TestHost;
let app: AppCheckout;
const prodName = () => sslipName(host, 'hello', 'production');

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  // A short health-check timeout keeps the crashing release's deploy quick.
  app = await makeApp(host, { healthCheck: { path: '/up', timeout: 6 } });
});
afterAll(async () => {
  await host?.shutdown();
});

async function deployOk(args: string[]) {
  const run = await toss(host, ['deploy', ...args], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
  return run;
}

async function releases(): Promise<string[]> {
  const out = await inHost(host, ['ls', '-1', '/srv/hello/production/releases']);
  return out.split('\n').filter(Boolean).sort();
}

/** The release env files (not the per-port slot links). */
async function envFiles(): Promise<string[]> {
  const out = await inHost(host, ['ls', '-1', '/srv/hello/production/env']);
  return out
    .split('\n')
    .filter((f) => f && !f.startsWith('slot-'))
    .sort();
}

async function prodState() {
  const state = JSON.parse(await inHost(host, ['cat', '/srv/hello/.toss/state.json']));
  return state.environments.production as {
    release: string;
    ports: [number, number];
    livePort: number;
  };
}

/** Deploys expecting failure, with a probe on the live site; returns the run and the probe. */
async function failedDeploy() {
  const releasesBefore = await releases();
  const envFilesBefore = await envFiles();
  const stateBefore = await prodState();
  const bodyBefore = (await fetchSite(host, prodName())).body;
  const probe = startProbe(host, prodName());
  const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
  // Keep probing a moment past the exit: a late teardown must not hurt the live release either.
  await new Promise((r) => setTimeout(r, 1000));
  const result = await probe.stop();
  expect(run.code, run.output).toBe(1);
  expect(result.failed, result.failures.join('\n')).toBe(0);
  expect(result.ok).toBeGreaterThan(5);
  expect([...result.bodies]).toEqual([bodyBefore]);
  expect(await fetchSite(host, prodName())).toEqual({ status: 200, body: bodyBefore });
  // Nothing of the failed release is left: no directory, no env file; state still names the old one.
  expect(await releases()).toEqual(releasesBefore);
  expect(await envFiles()).toEqual(envFilesBefore);
  const stateAfter = await prodState();
  expect(stateAfter.release).toBe(stateBefore.release);
  expect(stateAfter.livePort).toBe(stateBefore.livePort);
  const current = (await inHost(host, ['readlink', '/srv/hello/production/current'])).trim();
  expect(current).toBe(`releases/${stateBefore.release}`);
  // The lock was released: nobody holds the app.
  const state = JSON.parse(await inHost(host, ['cat', '/srv/hello/.toss/state.json']));
  expect(state.lock ?? null).toBeNull();
  return { run, stateBefore };
}

describe('failed deploys never touch the live release', () => {
  it('keeps what the app wrote in a persistentDir (data/boots.log) across releases', async () => {
    await deployOk(['production']);
    const first = await prodState();
    const boots1 = (await fetchSite(host, prodName(), '/boots')).body;
    const lines1 = boots1.split('\n').filter(Boolean);
    expect(lines1).toHaveLength(1);
    expect(lines1[0]).toContain(`/srv/hello/production/releases/${first.release}`);

    await app.commit('message.txt', 'Second release\n');
    await deployOk(['production']);
    const second = await prodState();
    expect(second.release).not.toBe(first.release);
    expect((await fetchSite(host, prodName())).body).toBe('Second release\n');
    const lines2 = (await fetchSite(host, prodName(), '/boots')).body.split('\n').filter(Boolean);
    expect(lines2).toHaveLength(2);
    expect(lines2[0]).toBe(lines1[0]);
    expect(lines2[1]).toContain(`/srv/hello/production/releases/${second.release}`);
    // It lives in preserve/, linked into the release, owned by the app user.
    const link = (
      await inHost(host, ['readlink', `/srv/hello/production/releases/${second.release}/data`])
    ).trim();
    expect(link).toBe('/srv/hello/production/preserve/data');
    const owner = (
      await inHost(host, ['stat', '-c', '%U', '/srv/hello/production/preserve/data/boots.log'])
    ).trim();
    expect(owner).not.toBe('root');
  });

  it('a failing deployScript step exits 1 with its output and name; live keeps serving', async () => {
    await app.commit('message.txt', 'Should not ship yet\n');
    app.configure({ deployScript: ['node build.js', 'echo about to fail; exit 3'] });
    const { run } = await failedDeploy();
    expect(run.output).toContain('about to fail');
    // The step is named: which command of deployScript, and that it was deployScript.
    expect(run.stderr).toContain('deployScript[1]');
    expect(run.stderr).toContain('echo about to fail; exit 3');
    expect(run.stderr).toContain('exit 3');
    expect(run.stderr).toContain('Run deployScript failed');
    // The transient unit of the step is gone (--collect), so the next run can use its name.
    const runUnit = await host.exec([
      'systemctl',
      'is-active',
      'toss-run-hello-production.service',
    ]);
    expect(runUnit.stdout.trim()).not.toBe('active');
  });

  it('converges on a plain re-run once toss.json is fixed', async () => {
    app.configure({ deployScript: ['node build.js'] });
    const probe = startProbe(host, prodName());
    await deployOk(['production']);
    const result = await probe.stop();
    expect(result.failed, result.failures.join('\n')).toBe(0);
    expect((await fetchSite(host, prodName())).body).toBe('Should not ship yet\n');
  });

  it('a release that crashes at start fails its health check with the journal tail; live keeps serving', async () => {
    const serverFile = join(app.dir, 'server.js');
    const original = readFileSync(serverFile, 'utf8');
    const anchor =
      "const body = readFileSync(new URL('./build/body.txt', import.meta.url), 'utf8');\n";
    expect(original).toContain(anchor);
    const crashing = original.replace(
      anchor,
      `${anchor}if (body.includes('crash')) throw new Error('boom at start');\n`,
    );
    await app.commit('server.js', crashing);
    await app.commit('message.txt', 'This release will crash\n');

    const { run, stateBefore } = await failedDeploy();
    expect(run.stderr).toContain('Health check failed');
    expect(run.stderr).toContain('boom at start');
    // The failed instance (the idle port) was stopped, not left restarting.
    const idle = stateBefore.ports.find((p) => p !== stateBefore.livePort)!;
    const unit = `toss-hello-production@${idle}.service`;
    const check = async () => {
      const active = await host.exec(['systemctl', 'is-active', unit]);
      expect(active.code, `${unit}: ${active.stdout}`).not.toBe(0);
      expect(active.stdout.trim()).toMatch(/^(inactive|failed)$/);
    };
    await check();
    // Restart=always must not bring it back after the stop.
    await new Promise((r) => setTimeout(r, 2500));
    await check();
    // The live instance is untouched.
    const live = await host.exec([
      'systemctl',
      'is-active',
      `toss-hello-production@${stateBefore.livePort}.service`,
    ]);
    expect(live.stdout.trim()).toBe('active');
  });

  it('converges on a re-run after the crash is fixed', async () => {
    const serverFile = join(app.dir, 'server.js');
    const crashing = readFileSync(serverFile, 'utf8');
    const original = crashing.replace(
      "if (body.includes('crash')) throw new Error('boom at start');\n",
      '',
    );
    expect(original).not.toContain('boom at start');
    const { livePort: before, ports } = await prodState();
    const idle = ports.find((p) => p !== before)!;
    // Fix the code, and the message too.
    await app.commit('server.js', original);
    await app.commit('message.txt', 'Recovered after a crash\n');
    const probe = startProbe(host, prodName());
    await deployOk(['production']);
    const result = await probe.stop();
    expect(result.failed, result.failures.join('\n')).toBe(0);
    expect((await fetchSite(host, prodName())).body).toBe('Recovered after a crash\n');
    const after = await prodState();
    expect(after.livePort).toBe(idle);
  });
});
