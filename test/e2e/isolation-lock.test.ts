/**
 * Lock identity per machine: a lock taken on another machine with the
 * same host name is never broken by the dead-process rule, and a run whose lock was broken leaves
 * the instance on its port alone (in a real race the new holder starts on that very port).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envPaths } from '../../src/server/paths.js';
import { stateSchema } from '../../src/server/state.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, fetchSite, inHost, makeApp, sslipName, toss } from './support/app.js';

const APP = 'lockid';
const STATE = `/srv/${APP}/.toss/state.json`;
let host: TestHost;
let app: AppCheckout;
const prodName = () => sslipName(host, APP, 'production');
const TOKEN_A = 'a'.repeat(32);
/** Another machine's identity: what a second runner called like this one would record. */
const OTHER_MACHINE = 'f'.repeat(32);

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, { app: APP });
});
afterAll(async () => {
  await host?.shutdown();
});

const run = (args: string[]) => toss(host, args, { cwd: app.dir });

async function readState() {
  return stateSchema.parse(JSON.parse(await inHost(host, ['cat', STATE])));
}

async function plantLock(lock: Record<string, unknown> | null) {
  const state = await readState();
  const text = `${JSON.stringify(stateSchema.parse({ ...state, lock }), null, 2)}\n`;
  const result = await host.exec(
    ['sh', '-c', 'umask 077 && cat > "$1.plant" && mv -f -- "$1.plant" "$1"', 'sh', STATE],
    { input: text },
  );
  expect(result.code, result.stderr).toBe(0);
}

async function until(what: string, check: () => Promise<boolean>, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen within ${ms / 1000} s`);
}

/** A pid on this machine that certainly belonged to a process that has exited. */
function deadPid(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('true', [], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => resolvePromise(child.pid!));
  });
}

const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

/** This machine's identity as the CLI records it, learned from a real run's lock. */
let thisMachine: string;

describe('lock identity per machine', () => {
  it('records a hashed machine identity that `toss lock status` shows', async () => {
    app.configure({ deployScript: ['node build.js', 'sleep 6'] });
    await app.commit('message.txt', 'first\n');
    const deploying = run(['deploy', 'production']);
    await until('the deploy taking the lock', async () => {
      const text = await inHost(host, ['cat', STATE]).catch(() => '');
      return text.includes('"lock": {');
    });
    const lock = (await readState()).lock!;
    expect(lock.host).toBe(hostname());
    expect(lock.machine).toMatch(/^[0-9a-f]{32}$/);
    thisMachine = lock.machine!;
    // The raw machine-id never leaves this machine.
    const raw = readFileSync('/etc/machine-id', 'utf8').trim();
    expect(JSON.stringify(await readState())).not.toContain(raw.slice(0, 12));
    const status = await run(['lock', 'status']);
    expect(status.code, status.output).toBe(0);
    expect(status.stdout).toContain(`machine:      ${thisMachine}`);
    const done = await deploying;
    expect(done.code, done.output).toBe(0);
    expect((await readState()).lock).toBeNull();
    // Another run on this machine records the same identity. A new commit: a deploy of the
    // same files, toss.json and variables would find nothing to do and take no lock.
    await app.commit('message.txt', 'second\n');
    const again = run(['deploy', 'production']);
    await until('the second deploy taking the lock', async () => {
      const text = await inHost(host, ['cat', STATE]).catch(() => '');
      return text.includes('"lock": {');
    });
    expect((await readState()).lock?.machine).toBe(thisMachine);
    expect((await again).code).toBe(0);
  });

  it('never breaks a live lock of another machine with this host name, its pid dead here', async () => {
    const pid = await deadPid();
    // Another production deploy (a preview's lock would be waited for, up to 90 s).
    const lock = {
      environment: 'production',
      token: TOKEN_A,
      host: hostname(),
      machine: OTHER_MACHINE,
      pid,
      startedAt: iso(3_000),
      heartbeatAt: iso(1_000),
      by: 'runner-b',
    };
    await plantLock(lock);
    const refused = await run(['deploy', 'production']);
    expect(refused.code, refused.output).toBe(1);
    expect(refused.stderr).toContain(
      `another deploy holds the lock: runner-b on ${hostname()} (pid ${pid}), deploying production`,
    );
    expect(refused.output).not.toContain('breaking');
    // Nor does `toss lock release` take it for abandoned.
    const release = await run(['lock', 'release']);
    expect(release.code, release.output).toBe(1);
    expect(release.stderr).toContain('refusing to release a live lock');
    expect((await readState()).lock).toEqual(lock);
  });

  it('never breaks an older toss’s lock (no machine recorded) by its pid either', async () => {
    const pid = await deadPid();
    const lock = {
      environment: 'production',
      token: TOKEN_A,
      host: hostname(),
      pid,
      startedAt: iso(3_000),
      heartbeatAt: iso(1_000),
      by: 'old-toss',
    };
    await plantLock(lock);
    const refused = await run(['deploy', 'production']);
    expect(refused.code, refused.output).toBe(1);
    expect(refused.stderr).toContain(`another deploy holds the lock: old-toss on ${hostname()}`);
    expect((await readState()).lock).toEqual(lock);
    const status = await run(['lock', 'status']);
    expect(status.stdout).toContain('machine:      unknown (taken by an older toss)');
  });

  it('still breaks a fresh lock of this machine whose process is gone', async () => {
    const pid = await deadPid();
    await plantLock({
      environment: 'production',
      token: TOKEN_A,
      host: hostname(),
      machine: thisMachine,
      pid,
      startedAt: iso(3_000),
      heartbeatAt: iso(1_000),
      by: 'carol',
    });
    const broke = await run(['deploy', 'production']);
    expect(broke.code, broke.output).toBe(0);
    expect(broke.output).toContain(
      `warning: breaking a lock whose process ${pid} on ${hostname()} is gone`,
    );
    expect((await readState()).lock).toBeNull();
  });
});

describe('a run whose lock was broken', () => {
  it('leaves the instance on the port it started on alone', async () => {
    // The new release listens only after 8 s: the run sits in its health check meanwhile.
    app.configure({
      deployScript: ['node build.js'],
      startCommand: 'sleep 8 && exec node server.js',
    });
    await app.commit('message.txt', 'slow start\n');
    const before = await readState();
    const live = before.environments.production!;
    const newPort = live.ports[0] === live.livePort ? live.ports[1] : live.ports[0];
    const unit = envPaths(APP, 'production').instanceUnit(newPort);
    const bodyBefore = (await fetchSite(host, prodName())).body;
    const running = run(['deploy', 'production']);
    // The new instance's start command runs (the old one may still drain on that port).
    await until(`${unit} starting the new release`, async () => {
      const found = await host.exec(['pgrep', '-x', '-f', 'sleep 8']);
      return found.code === 0;
    });
    // Another run breaks the lock and takes it. Routed to the same live port, it starts on the
    // same new port: the unit running there stands for the new holder's instance.
    const taker = {
      environment: 'production',
      token: 'b'.repeat(32),
      host: hostname(),
      machine: OTHER_MACHINE,
      pid: 999,
      startedAt: iso(0),
      heartbeatAt: iso(0),
      by: 'winner',
    };
    await plantLock(taker);
    const lost = await running;
    expect(lost.code, lost.output).toBe(1);
    expect(lost.stderr).toContain('no longer holds the lock');
    const active = await host.exec(['systemctl', 'is-active', unit]);
    expect(active.stdout.trim(), `${unit} was stopped by the run that lost its lock`).toBe(
      'active',
    );
    expect((await readState()).lock).toEqual(taker);
    expect((await fetchSite(host, prodName())).body).toBe(bodyBefore);
    // The winner finishes; a later deploy goes through as usual.
    await plantLock(null);
    app.configure({ startCommand: 'node server.js' });
    await app.commit('message.txt', 'after\n');
    const next = await run(['deploy', 'production']);
    expect(next.code, next.output).toBe(0);
    expect((await fetchSite(host, prodName())).body).toContain('after');
  });
});
