/**
 * Production on several servers, on four real hosts that reach one another over a private
 * network: three web servers behind the first one's Caddy (the front), and a worker. Rolling,
 * health-gated deploys with a probe through the front; a release that fails on the second host;
 * a host that is down; the worker; two deploys at once.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import { connectHosts, type PrivateNetwork } from './harness/private-network.js';
import { run } from './harness/proc.js';
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

const APP = 'fleet';
const FRONT_PORT = 2080;
const REFUSE = '/etc/toss-test-refuse';
// Answers with its version and the host it runs on; answers 503 where REFUSE names its version
// (a release that fails its health check on one host only, once the check's 10 s are up: by then
// the first host, checked at the same time, has routed to it).
const SERVER = `import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { hostname } from 'node:os';

const version = readFileSync('message.txt', 'utf8').trim();
const refused = existsSync('${REFUSE}') && readFileSync('${REFUSE}', 'utf8').trim() === version;
createServer((request, response) => {
  if (refused) response.statusCode = 503;
  response.end(version + ' on ' + hostname() + '\\n');
}).listen(Number(process.env.PORT), process.env.HOST);
`;
const WORKER = `import { readFileSync } from 'node:fs';

const version = readFileSync('message.txt', 'utf8').trim();
console.log('worker ' + version + ' started');
setInterval(() => console.log('worker ' + version + ' working'), 1000);
`;

let hosts: TestHost[] = [];
let net: PrivateNetwork;
let app: AppCheckout;
let knownHosts: string;
const h = (i: number) => hosts[i]!;
const target = (host: TestHost) => `root@${host.ip}`;
const front = () => h(0);
const name = () => sslipName(front(), APP, 'production');
const web = () => hosts.slice(0, 3);

function deploy(...more: string[]): Promise<TossRun> {
  return toss(front(), ['deploy', 'production', ...more], {
    cwd: app.dir,
    env: { TOSS_KNOWN_HOSTS: knownHosts },
  });
}

async function deployOk(...more: string[]): Promise<TossRun> {
  const result = await deploy(...more);
  expect(result.code, result.output).toBe(0);
  return result;
}

async function stateOf(host: TestHost): Promise<{
  lock: unknown;
  environments: Record<string, { release: string; livePort: number }>;
}> {
  return JSON.parse(await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`]));
}

async function releaseOn(host: TestHost): Promise<string | undefined> {
  return (await stateOf(host)).environments.production?.release;
}

/** What a web host's own private site answers (from the front, over the private network). */
async function servedBy(host: TestHost): Promise<string> {
  const url = `http://${net.addressOf(host)}:${FRONT_PORT}/`;
  const answer = await front().exec(['curl', '-fsS', '--max-time', '5', url]);
  expect(answer.code, answer.stderr).toBe(0);
  return answer.stdout;
}

/** The production site file's change time and content on a host. */
async function siteStamp(host: TestHost): Promise<string> {
  const file = `/etc/caddy/toss/${APP}-production.caddy`;
  return inHost(host, ['sh', '-c', `stat -c %Z "$0" && cat "$0"`, file]);
}

async function hostnameOf(host: TestHost): Promise<string> {
  return (await inHost(host, ['hostname'])).trim();
}

async function workerPid(): Promise<string> {
  const port = (await stateOf(h(3))).environments.production!.livePort;
  const unit = `toss-${APP}-production@${port}.service`;
  return (await inHost(h(3), ['systemctl', 'show', '--value', '--property=MainPID', unit])).trim();
}

beforeAll(async () => {
  hosts = await bootHosts(4);
  net = await connectHosts(hosts);
  const dir = mkdtempSync(join(tmpdir(), 'toss-kh-'));
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `${hosts.flatMap((x) => x.knownHostsLines).join('\n')}\n`);
  app = await makeApp(front(), {
    app: APP,
    startCommand: 'node app.js',
    deployScript: undefined,
    persistentDirs: [],
    healthCheck: { path: '/', timeout: 10 },
    servers: [
      { server: target(h(1)), private: net.addressOf(h(1)) },
      { server: target(h(2)), private: net.addressOf(h(2)) },
      { server: target(h(3)), role: 'worker' },
    ],
    front: { private: net.addressOf(h(0)), port: FRONT_PORT },
    worker: { startCommand: 'node worker.js' },
  });
  await app.commit('app.js', SERVER);
  await app.commit('worker.js', WORKER);
  await app.commit('message.txt', 'version 1\n');
  await deployOk();
}, 300_000);

afterAll(async () => {
  net?.teardown();
  await Promise.all(hosts.map((x) => x.shutdown()));
});

describe('production on three web servers behind a front, and a worker', () => {
  it('redeploys with zero failed requests through the front; all three serve the new release', async () => {
    const pidBefore = await workerPid();
    await app.commit('message.txt', 'version 2\n');
    const probe = startProbe(front(), name(), 50);
    const deployed = await deployOk();
    await new Promise((r) => setTimeout(r, 2000));
    const result = await probe.stop();
    expect(result.failed, result.failures.join('\n')).toBe(0);
    expect(result.ok).toBeGreaterThan(20);
    const release = await releaseOn(h(0));
    for (const host of web()) {
      expect(await servedBy(host)).toBe(`version 2 on ${await hostnameOf(host)}\n`);
      expect(await releaseOn(host)).toBe(release);
    }
    // The front balanced across all three.
    for (const host of web()) {
      expect([...result.bodies]).toContain(`version 2 on ${await hostnameOf(host)}\n`);
    }
    // Every step line says which server it ran on.
    for (const host of hosts) expect(deployed.stdout).toContain(`[${target(host)}]`);
    // The worker restarted with the release.
    expect(await releaseOn(h(3))).toBe(release);
    expect(await workerPid()).not.toBe(pidBefore);
    console.log(
      `FLEET | redeploy through the front: ${result.ok} ok, ${result.failed} failed; bodies: ${[...result.bodies].map((b) => b.trim()).join(' | ')}`,
    );
  }, 180_000);

  it('gives the public name only to the front; the web servers answer on their private address', async () => {
    const sites = await inHost(front(), ['sh', '-c', `cat /etc/caddy/toss/${APP}*.caddy`]);
    expect(sites).toContain(`${name()} {`);
    expect(sites).toMatch(/lb_try_duration/);
    for (const host of web().slice(1)) {
      const own = await inHost(host, ['sh', '-c', `cat /etc/caddy/toss/${APP}*.caddy`]);
      expect(own).not.toContain(name());
      expect(own).toContain(`http://:${FRONT_PORT} {`);
      expect(own).toContain(`bind ${net.addressOf(host)}`);
      // Not from this machine: the private site is bound to the private address only.
      const direct = await run(
        ['curl', '-sS', '--max-time', '3', `http://${host.ip}:${FRONT_PORT}/`],
        {
          timeoutMs: 10_000,
        },
      );
      expect(direct.code).not.toBe(0);
    }
  });

  it('runs the worker with its own command, with no site, and restarts it with each release', async () => {
    const worker = h(3);
    const sites = await inHost(worker, ['sh', '-c', 'ls /etc/caddy/toss/ 2>/dev/null || true']);
    expect(sites).not.toContain(APP);
    const port = (await stateOf(worker)).environments.production!.livePort;
    const unit = `toss-${APP}-production@${port}.service`;
    expect(await inHost(worker, ['systemctl', 'is-active', unit])).toBe('active\n');
    const journal = await inHost(worker, ['journalctl', '--no-pager', '-o', 'cat', '-u', unit]);
    expect(journal).toContain('worker version 2 started');
    // Nothing answers on its port: it serves nothing.
    const listening = await worker.exec([
      'curl',
      '-sS',
      '--max-time',
      '2',
      `http://127.0.0.1:${port}/`,
    ]);
    expect(listening.code).not.toBe(0);
  });

  it('a release failing its health check on the second host: the first goes back, the third is never switched', async () => {
    const before = await Promise.all(web().map(releaseOn));
    const thirdSite = await siteStamp(h(2));
    await h(1).exec(['sh', '-c', `echo 'version 3' > ${REFUSE}`]);
    try {
      await app.commit('message.txt', 'version 3\n');
      const probe = startProbe(front(), name(), 50);
      const failed = await deploy();
      await new Promise((r) => setTimeout(r, 2000));
      const result = await probe.stop();
      expect(failed.code, failed.output).not.toBe(0);
      expect(failed.stderr).toContain(target(h(1)));
      expect(failed.stderr).toMatch(/health check/);
      expect(result.failed, result.failures.join('\n')).toBe(0);
      // Only the first host served version 3, while it was routed and before the second failed
      // (a rolling switch); once the deploy failed, nothing does.
      const first = await hostnameOf(h(0));
      const third = [...result.bodies].filter((b) => b.startsWith('version 3'));
      expect(
        third.every((b) => b === `version 3 on ${first}\n`),
        third.join(''),
      ).toBe(true);
      const after = startProbe(front(), name(), 50);
      await new Promise((r) => setTimeout(r, 1500));
      const since = await after.stop();
      expect(since.failed, since.failures.join('\n')).toBe(0);
      expect([...since.bodies].every((b) => b.startsWith('version 2'))).toBe(true);
      for (const host of web()) {
        expect(await servedBy(host)).toBe(`version 2 on ${await hostnameOf(host)}\n`);
      }
      expect(await Promise.all(web().map(releaseOn))).toEqual(before);
      // The first host switched, then went back.
      expect(failed.stdout).toContain(`[${target(h(0))}]`);
      expect(failed.output).toMatch(/Route back to the previous release/);
      // The third started and checked version 3 with the others (no traffic reaches a new
      // instance before its turn), but its turn never came: its Caddy site was never touched.
      expect(failed.output).toMatch(new RegExp(`\\[${target(h(2))}\\] toss: Health check done`));
      expect(failed.output).toMatch(new RegExp(`\\[${target(h(0))}\\] toss: Route traffic`));
      expect(failed.output).not.toMatch(new RegExp(`\\[${target(h(2))}\\] toss: Route traffic`));
      expect(await siteStamp(h(2))).toBe(thirdSite);
      for (const host of hosts) expect((await stateOf(host)).lock).toBeNull();
      console.log(
        `FLEET | health failure on host two: ${result.ok} ok, ${result.failed} failed through the front; error: ${failed.stderr.trim().split('\n')[0]}`,
      );
    } finally {
      await h(1).exec(['rm', '-f', REFUSE]);
    }
  }, 180_000);

  it('a host that is down: the deploy fails before any host changes; --skip-server deploys the others and status shows the drift', async () => {
    const down = h(2);
    const before = await Promise.all(hosts.map(releaseOn));
    await app.commit('message.txt', 'version 4\n');
    await run(['ip', 'link', 'set', down.hostVeth, 'down']);
    let skipped: TossRun;
    try {
      const failed = await deploy();
      expect(failed.code, failed.output).not.toBe(0);
      expect(failed.stderr).toContain(`cannot reach ${target(down)}`);
      expect(failed.stderr).toContain('nothing changed on any server');
      expect(failed.stderr).toContain(`--skip-server ${target(down)}`);
      for (const [i, host] of hosts.entries()) {
        if (host === down) continue;
        expect(await releaseOn(host)).toBe(before[i]);
        expect((await stateOf(host)).lock).toBeNull();
        const staging = await inHost(host, ['sh', '-c', `ls -a /srv/${APP}/production/releases/`]);
        expect(staging).not.toContain('.incoming');
      }
      skipped = await deployOk('--skip-server', target(down));
    } finally {
      await run(['ip', 'link', 'set', down.hostVeth, 'up']);
    }
    expect(skipped.stdout).not.toContain(`[${target(down)}]`);
    for (const host of [h(0), h(1)]) {
      expect(await servedBy(host)).toBe(`version 4 on ${await hostnameOf(host)}\n`);
    }
    expect(await servedBy(down)).toBe(`version 2 on ${await hostnameOf(down)}\n`);
    const status = await toss(front(), ['status', '--json'], {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    expect(status.code, status.output).toBe(0);
    const warnings = (
      JSON.parse(status.stdout) as { warnings: { kind: string; message: string; fix: string }[] }
    ).warnings;
    const drift = warnings.filter((w) => w.kind === 'server-drift');
    expect(drift).toHaveLength(1);
    expect(drift[0]!.message).toContain(target(down));
    expect(drift[0]!.fix).toBe('toss deploy production');
    const listed = await toss(front(), ['list', '--json'], {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    expect(listed.code, listed.output).toBe(0);
    const servers = (JSON.parse(listed.stdout) as { servers: { name: string; release: string }[] })
      .servers;
    expect(servers.map((x) => x.name)).toEqual(hosts.map(target));
    expect(servers[2]!.release).toBe(before[2]);
    expect(servers[0]!.release).toBe(await releaseOn(h(0)));
    const table = await toss(front(), ['list'], {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    expect(table.stdout).toContain('production runs on 4 servers:');
    expect(table.stdout).toMatch(
      new RegExp(`${target(down).replaceAll('.', '\\.')} \\(web\\) +\\S+ +← drift`),
    );
    // The fixing command brings it in line.
    await deployOk();
    const after = await toss(front(), ['status', '--json'], {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    const left = (JSON.parse(after.stdout) as { warnings: { kind: string }[] }).warnings;
    expect(left.filter((w) => w.kind === 'server-drift')).toEqual([]);
    expect(await servedBy(down)).toBe(`version 4 on ${await hostnameOf(down)}\n`);
  }, 240_000);

  it('two deploys at once: one lock for the app across all hosts', async () => {
    await app.commit('message.txt', 'version 5\n');
    const [a, b] = await Promise.all([deploy(), deploy()]);
    const results = [a, b];
    const won = results.filter((r) => r.code === 0);
    const lost = results.filter((r) => r.code !== 0);
    expect(won, results.map((r) => r.output).join('\n----\n')).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.stderr).toMatch(/lock/i);
    expect(lost[0]!.stderr).toContain(target(h(0)));
    const release = await releaseOn(h(0));
    for (const host of hosts) {
      expect(await releaseOn(host)).toBe(release);
      expect((await stateOf(host)).lock).toBeNull();
      // The refused deploy's uploads (started while it waited for the lock) are gone.
      const left = await inHost(host, [
        'sh',
        '-c',
        `ls -a /srv/${APP}/production/releases/ /srv/.toss-incoming/ 2>/dev/null || true`,
      ]);
      expect(left).not.toContain('.incoming');
    }
    for (const host of web()) {
      expect(await servedBy(host)).toBe(`version 5 on ${await hostnameOf(host)}\n`);
    }
    const served = await fetchSite(front(), name(), '/');
    expect(served.body).toMatch(/^version 5 on /);
  }, 180_000);

  it('rolls every server back together, with zero failed requests through the front', async () => {
    const probe = startProbe(front(), name(), 50);
    const rolled = await toss(front(), ['rollback', 'production'], {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    await new Promise((r) => setTimeout(r, 1500));
    const result = await probe.stop();
    expect(rolled.code, rolled.output).toBe(0);
    expect(result.failed, result.failures.join('\n')).toBe(0);
    const release = await releaseOn(h(0));
    for (const host of hosts) expect(await releaseOn(host)).toBe(release);
    for (const host of web()) {
      expect(await servedBy(host)).toBe(`version 4 on ${await hostnameOf(host)}\n`);
    }
    for (const host of hosts) expect(rolled.stdout).toContain(`[${target(host)}]`);
  }, 180_000);

  it("pushes production's secrets to every server", async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'toss-secrets-')), '.env.production');
    writeFileSync(file, 'FLEET_SECRET=on-every-server\n');
    const pushed = await toss(front(), ['secrets', 'push', 'production', '--file', file], {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    expect(pushed.code, pushed.output).toBe(0);
    for (const host of hosts) {
      expect(pushed.stdout).toContain(`on ${target(host)}`);
      const text = await inHost(host, ['cat', `/srv/${APP}/.toss/secrets/production.env`]);
      expect(text).toContain('FLEET_SECRET="on-every-server"');
    }
  });

  it("prints production's journal of every server, merged by time, each line prefixed", async () => {
    const logs = await toss(front(), ['logs', 'production', '-n', '20'], {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    expect(logs.code, logs.output).toBe(0);
    const lines = logs.stdout.trim().split('\n');
    for (const host of hosts) {
      expect(lines.some((l) => l.startsWith(`[${target(host)}] `))).toBe(true);
    }
    expect(logs.stdout).toMatch(/\] \S+ .*worker version 4 working/);
    const times = lines
      .map((l) => /^\[\S+\] (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)/.exec(l)?.[1])
      .filter((t): t is string => t !== undefined);
    expect(times.length).toBeGreaterThan(20);
    expect(times).toEqual([...times].sort());
  });

  it('init provisions every server toss.json names', async () => {
    const scratch = await makeApp(front(), {
      app: 'fleet2',
      servers: [
        { server: target(h(1)), private: net.addressOf(h(1)) },
        { server: target(h(2)), private: net.addressOf(h(2)) },
        { server: target(h(3)), role: 'worker' },
      ],
      front: { private: net.addressOf(h(0)), port: 2081 },
      worker: { startCommand: 'node worker.js' },
    });
    for (const host of hosts)
      expect((await host.exec(['test', '-e', '/srv/fleet2'])).code).not.toBe(0);
    const init = await toss(
      front(),
      ['init', '--yes', '--force', '--server', target(h(0)), '--app', 'fleet2'],
      { cwd: scratch.dir, env: { TOSS_KNOWN_HOSTS: knownHosts } },
    );
    expect(init.code, init.output).toBe(0);
    for (const host of hosts) {
      const state = JSON.parse(await inHost(host, ['cat', '/srv/fleet2/.toss/state.json']));
      expect(state.app).toBe('fleet2');
    }
    for (const host of hosts.slice(1)) expect(init.stdout).toContain(`[${target(host)}]`);
    expect(init.stdout).toContain(`${target(h(3))} (worker): `);
  }, 180_000);

  it("a second app whose front takes the first one's port: its deploy fails saying so, and the first keeps serving", async () => {
    const other = await makeApp(front(), {
      app: 'fleet3',
      startCommand: 'node app.js',
      deployScript: undefined,
      persistentDirs: [],
      servers: [{ server: target(h(1)), private: net.addressOf(h(1)) }],
      front: { private: net.addressOf(h(0)), port: FRONT_PORT },
    });
    await other.commit('app.js', SERVER);
    await other.commit('message.txt', 'intruder\n');
    const before = await Promise.all(web().map(servedBy));
    const probe = startProbe(front(), name(), 50);
    const failed = await toss(front(), ['deploy', 'production'], {
      cwd: other.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    const result = await probe.stop();
    expect(failed.code, failed.output).not.toBe(0);
    expect(failed.stderr).toContain(
      `another site on this server already answers http://:${FRONT_PORT}`,
    );
    expect(failed.stderr).toContain('front.port');
    expect(result.failed, result.failures.join('\n')).toBe(0);
    expect([...result.bodies].some((b) => b.startsWith('intruder'))).toBe(false);
    expect(await Promise.all(web().map(servedBy))).toEqual(before);
    for (const host of hosts.slice(0, 2)) {
      const site = await host.exec(['test', '-e', '/etc/caddy/toss/fleet3-production.caddy']);
      expect(site.code).not.toBe(0);
    }
  }, 180_000);

  it('removes production from every server, the first one last', async () => {
    const removed = await toss(front(), ['remove', 'production', '--force'], {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    expect(removed.code, removed.output).toBe(0);
    for (const host of hosts.slice(1)) expect(removed.stdout).toContain(`[${target(host)}]`);
    for (const host of hosts) {
      const state = await stateOf(host);
      expect(state.environments.production).toBeUndefined();
      expect(state.lock).toBeNull();
      const site = await host.exec(['test', '-e', `/etc/caddy/toss/${APP}-production.caddy`]);
      expect(site.code).not.toBe(0);
      const units = await inHost(host, [
        'systemctl',
        'list-units',
        '--all',
        '--no-legend',
        `toss-${APP}-*`,
      ]);
      expect(units.trim()).toBe('');
    }
  }, 180_000);
});
