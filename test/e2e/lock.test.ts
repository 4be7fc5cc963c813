/**
 * The app's deploy lock end to end: two real CLI processes at once, planted stale,
 * legacy, dead-process and live locks, and a holder whose lock is broken mid-deploy.
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { machineId } from '../../src/pipeline/machine-id.js';
import { stateSchema } from '../../src/server/state.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, fetchSite, inHost, makeApp, sslipName, toss } from './support/app.js';

const APP = 'locky';
const STATE = `/srv/${APP}/.toss/state.json`;
let host: TestHost;
let app: AppCheckout;
const prodName = () => sslipName(host, APP, 'production');

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, { app: APP });
});
afterAll(async () => {
  await host?.shutdown();
});

function deploy(args: string[] = []) {
  return toss(host, ['deploy', 'production', ...args], { cwd: app.dir });
}

async function deployOk(args: string[] = []) {
  const run = await deploy(args);
  expect(run.code, run.output).toBe(0);
  return run;
}

/** state.json as written on the server, checked against the schema. */
async function readState() {
  return stateSchema.parse(JSON.parse(await inHost(host, ['cat', STATE])));
}

/** Rewrites state.json (valid for the schema, in serializeState's layout), atomically. */
async function writeState(state: unknown) {
  const text = `${JSON.stringify(stateSchema.parse(state), null, 2)}\n`;
  const result = await host.exec(
    ['sh', '-c', 'umask 077 && cat > "$1.plant" && mv -f -- "$1.plant" "$1"', 'sh', STATE],
    { input: text },
  );
  expect(result.code, result.stderr).toBe(0);
}

async function plantLock(lock: Record<string, unknown> | null) {
  const state = await readState();
  await writeState({ ...state, lock });
}

/** Waits until a deployScript `sleep` runs on the host (the deploy holds the lock then). */
async function waitForSleep(seconds: number) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const found = await host.exec(['pgrep', '-x', '-f', `sleep ${seconds}`]);
    if (found.code === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no \`sleep ${seconds}\` started on the host within 60 s`);
}

async function withDeployScript(script: string[]) {
  app.configure({ deployScript: script });
  await app.commit('message.txt', `${script.join(' && ')}\n`);
}

const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
const TOKEN_A = 'a'.repeat(32);

/** A pid on this machine that certainly belonged to a process that has exited. */
function deadPid(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('true', [], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => resolvePromise(child.pid!));
  });
}

describe('the deploy lock against a real server', () => {
  it('deploys production to begin with', async () => {
    await deployOk();
    expect((await readState()).lock).toBeNull();
    expect((await fetchSite(host, prodName())).status).toBe(200);
  });

  it('refuses a second deploy at once while another holds the lock, naming the holder', async () => {
    await withDeployScript(['node build.js', 'sleep 15']);
    const first = deploy();
    await waitForSleep(15);
    const holder = (await readState()).lock;
    expect(holder).not.toBeNull();
    const second = await deploy();
    // --lock-wait defaults to 0: refused while the holder's long step still runs, not after it.
    const stillSleeping = await host.exec(['pgrep', '-x', '-f', 'sleep 15']);
    expect(stillSleeping.code, 'the refusal waited for the holder to finish').toBe(0);
    expect((await readState()).lock?.token).toBe(holder!.token);
    expect(second.code, second.output).toBe(1);
    expect(second.stderr).toContain('another deploy holds the lock');
    expect(second.stderr).toContain(holder!.by);
    expect(second.stderr).toContain(`on ${hostname()}`);
    expect(second.stderr).toContain(`(pid ${holder!.pid})`);
    expect(second.stderr).toContain('deploying production');
    // Its upload began alongside the lock, into a staging directory: gone with the refusal.
    const releases = await host.exec(['ls', '-A', `/srv/${APP}/production/releases`]);
    expect(releases.stdout).not.toContain('.incoming-');
    const done = await first;
    expect(done.code, done.output).toBe(0);
    expect((await fetchSite(host, prodName())).body).toBe('node build.js && sleep 15\n');
    expect((await readState()).lock).toBeNull();
  });

  it('with --lock-wait two deploys started at once both succeed, one after the other', async () => {
    await withDeployScript(['node build.js', 'sleep 4']);
    // Started together, both reach the lock within moments; whoever wins holds it for 4 s+.
    const runs = await Promise.all([
      deploy(['--lock-wait', '120']),
      deploy(['--lock-wait', '120']),
    ]);
    for (const run of runs) expect(run.code, run.output).toBe(0);
    const waited = runs.filter((r) => r.output.includes('waiting up to 120 s for the lock'));
    expect(waited, runs.map((r) => r.output).join('\n-----\n')).toHaveLength(1);
    const state = await readState();
    expect(state.lock).toBeNull();
    // The one that waited went live last.
    const releaseOfWaiter = /\(release (\S+)\)/.exec(waited[0]!.stdout)?.[1];
    expect(state.environments.production?.release).toBe(releaseOfWaiter);
    expect((await fetchSite(host, prodName())).body).toBe('node build.js && sleep 4\n');
  });

  it('breaks a lock whose heartbeat stopped 3 minutes ago, saying so', async () => {
    await withDeployScript(['node build.js']);
    await plantLock({
      environment: 'pr-1',
      token: TOKEN_A,
      host: 'ci-runner-7',
      pid: 4242,
      startedAt: iso(10 * 60_000),
      heartbeatAt: iso(3 * 60_000),
      by: 'alice',
    });
    const run = await deployOk();
    expect(run.output).toContain('warning: breaking a stale lock (last heartbeat 3 min');
    expect(run.output).toContain('alice on ci-runner-7 (pid 4242)');
    expect((await readState()).lock).toBeNull();
  });

  it('breaks a lock without heartbeats started 31 minutes ago', async () => {
    await plantLock({
      environment: 'production',
      token: TOKEN_A,
      host: 'old-laptop',
      pid: 77,
      startedAt: iso(31 * 60_000),
      by: 'bob',
    });
    const run = await deployOk();
    expect(run.output).toContain('warning: breaking a stale lock (started 31 min');
    expect(run.output).toContain('bob on old-laptop (pid 77)');
    expect((await readState()).lock).toBeNull();
  });

  it('breaks a fresh lock taken on this machine by a process that is gone', async () => {
    const pid = await deadPid();
    await plantLock({
      environment: 'production',
      token: TOKEN_A,
      host: hostname(),
      // This machine as the CLI (same machine, boot and pid namespace as this test) records it.
      machine: machineId(),
      pid,
      startedAt: iso(5_000),
      heartbeatAt: iso(5_000),
      by: 'carol',
    });
    const run = await deployOk();
    expect(run.output).toContain(
      `warning: breaking a lock whose process ${pid} on ${hostname()} is gone`,
    );
    expect((await readState()).lock).toBeNull();
  });

  it('refuses a fresh lock of another live holder without --lock-wait', async () => {
    const before = await readState();
    // Another production deploy: a preview's holder would be waited for up to 90 s (or, while it
    // builds, preempted; see isolation-hostile-preview.test.ts).
    const lock = {
      environment: 'production',
      token: TOKEN_A,
      host: 'ci-runner-7',
      pid: 4242,
      startedAt: iso(2_000),
      heartbeatAt: iso(1_000),
      by: 'dave',
      runUrl: 'https://github.com/octo/locky/actions/runs/42',
    };
    await plantLock(lock);
    const run = await deploy();
    expect(run.code, run.output).toBe(1);
    expect(run.stderr).toContain(
      'another deploy holds the lock: dave on ci-runner-7 (pid 4242), deploying production, started',
    );
    expect(run.stderr).toContain('run https://github.com/octo/locky/actions/runs/42');
    const after = await readState();
    expect(after.lock).toEqual(lock);
    expect(after.environments).toEqual(before.environments);
    await plantLock(null);
  });

  it('a deploy whose lock is broken mid-way changes nothing afterwards', async () => {
    await withDeployScript(['node build.js', 'sleep 8']);
    const before = await readState();
    const bodyBefore = (await fetchSite(host, prodName())).body;
    const running = deploy();
    await waitForSleep(8);
    // Another client breaks the lock and takes it: a different token in state.json.
    const taker = {
      environment: 'production',
      token: 'b'.repeat(32),
      host: 'ci-runner-9',
      pid: 999,
      startedAt: iso(0),
      heartbeatAt: iso(0),
      by: 'eve',
    };
    await plantLock(taker);
    const run = await running;
    expect(run.code, run.output).toBe(1);
    expect(run.stderr).toContain('no longer holds the lock');
    const after = await readState();
    expect(after.lock).toEqual(taker);
    expect(after.environments.production?.release).toBe(before.environments.production?.release);
    const current = (await inHost(host, ['readlink', `/srv/${APP}/production/current`])).trim();
    expect(current).toBe(`releases/${before.environments.production?.release}`);
    expect((await fetchSite(host, prodName())).body).toBe(bodyBefore);
    // The taker finishes and releases.
    await plantLock(null);
  });

  it('leaves state.json valid after all that, and a re-run succeeds', async () => {
    const text = await inHost(host, ['cat', STATE]);
    expect(() => stateSchema.parse(JSON.parse(text))).not.toThrow();
    const before = await readState();
    await withDeployScript(['node build.js']);
    // A new commit: this tree and toss.json are the live release's, which a deploy would leave
    // as it is ("unchanged, still live"), and the re-run is meant to go through the lock again.
    await app.commit('VERSION', 're-run\n');
    await deployOk();
    const state = await readState();
    expect(state.lock).toBeNull();
    expect(state.environments.production?.release).not.toBe(
      before.environments.production?.release,
    );
    expect((await fetchSite(host, prodName())).body).toBe('node build.js\n');
  });
});
