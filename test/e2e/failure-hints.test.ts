/**
 * A release that fails its health check says why, on a real server: one that writes under /var/lib
 * (read-only for the app), one that listens on a port of its own, one whose start command runs a
 * program the server lacks, one that writes in its release while toss.json says readOnly. Each
 * deploy exits 1 with the cause and a hint that fixes it, the journal tail of that release only,
 * while the good release deployed first keeps serving.
 */
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

let host: TestHost;
let app: AppCheckout;
let goodBody: string;
const prodName = () => sslipName(host, 'hello', 'production');

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  // A short health-check timeout keeps each failing deploy quick.
  app = await makeApp(host, { healthCheck: { path: '/up', timeout: 6 } });
  const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
  goodBody = (await fetchSite(host, prodName())).body;
  expect(goodBody).not.toBe('');
});
afterAll(async () => {
  await host?.shutdown();
});

/** The port a new release starts on: production's idle one. */
async function idlePort(): Promise<number> {
  const state = JSON.parse(await inHost(host, ['cat', '/srv/hello/.toss/state.json']));
  const { ports, livePort } = state.environments.production as {
    ports: [number, number];
    livePort: number;
  };
  return ports.find((p) => p !== livePort)!;
}

/** A server.js that does `body` at start instead of serving on $PORT. */
function brokenServer(body: string): string {
  return `// A broken release for the failure-hint tests.\nimport { createServer } from 'node:http';\nimport { mkdirSync, writeFileSync } from 'node:fs';\n${body}\n`;
}

/** Deploys a broken release: exit 1, the live site serving the good body throughout. */
async function failingDeploy(): Promise<{
  run: TossRun;
  hint: string;
  unit: string;
  port: number;
}> {
  const port = await idlePort();
  const probe = startProbe(host, prodName());
  const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
  const result = await probe.stop();
  expect(run.code, run.output).toBe(1);
  expect(result.failed, result.failures.join('\n')).toBe(0);
  expect(result.ok).toBeGreaterThan(5);
  expect([...result.bodies]).toEqual([goodBody]);
  expect(await fetchSite(host, prodName())).toEqual({ status: 200, body: goodBody });
  expect(run.stderr).toContain('the new release did not pass its health check');
  const unit = `toss-hello-production@${port}.service`;
  // The journal tail is still there, under the cause.
  expect(run.stderr).toContain(`--- last 30 lines of ${unit} ---`);
  const hint = /^hint: (.*)$/m.exec(run.stderr)?.[1] ?? '';
  return { run, hint, unit, port };
}

describe('a failed health check names its cause', () => {
  it('a write under /var/lib: read-only, and the hint is persistentDirs', async () => {
    await app.commit(
      'server.js',
      brokenServer("writeFileSync('/var/lib/hello-orders.json', '[]');"),
    );
    const { run, hint } = await failingDeploy();
    expect(run.stderr).toContain(
      'it could not write /var/lib/hello-orders.json: read-only file system.',
    );
    // Quoted from the journal, which shows Node's own words.
    expect(run.stderr).toContain("EROFS: read-only file system, open '/var/lib/hello-orders.json'");
    expect(hint).toContain('"persistentDirs"');
    expect(hint).toContain('instead of /var/lib/hello-orders.json');
    expect(hint).not.toContain('"readOnly": true');
    expect(hint).toMatch(/then deploy again$/);
  });

  it('a fixed port of its own: the port it was given and where it listened instead', async () => {
    await app.commit(
      'server.js',
      brokenServer(
        "createServer((_, res) => res.end('wrong port\\n')).listen(8000, '0.0.0.0', () => console.log('listening on 0.0.0.0:8000'));",
      ),
    );
    const { run, hint, port } = await failingDeploy();
    // Where the server enforces each unit's ports (cgroup v2 with BPF) the bind is refused and
    // the journal says so; elsewhere the instance's own listener is found.
    const listened = `it was given PORT=${port} (with HOST=127.0.0.1) but listened on 0.0.0.0:8000 instead.`;
    const refused = `it was given PORT=${port} (with HOST=127.0.0.1) but tried to listen on 0.0.0.0:8000`;
    expect(run.stderr.includes(listened) || run.stderr.includes(refused), run.stderr).toBe(true);
    expect(hint).toContain('listen on the port in $PORT, on the address in $HOST (127.0.0.1)');
    // The journal shown is this release's: the previous failure on the same port is not in it.
    expect(run.stderr).not.toContain('EROFS');
  });

  it('a start command whose program is not installed: dependencies, or build', async () => {
    await app.commit(
      'server.js',
      brokenServer("console.log('never run: the start command fails first');"),
    );
    app.configure({ startCommand: 'uvicorn app:app --host $HOST --port $PORT' });
    await app.commit('message.txt', 'Needs uvicorn\n');
    const { run, hint } = await failingDeploy();
    expect(run.stderr).toContain(
      '`uvicorn` is not installed on the server: the start command could not run it.',
    );
    expect(run.stderr).toMatch(/sh: 1: uvicorn: not found/);
    expect(hint).toContain(`toss.json's "dependencies", like {"uvicorn":`);
    expect(hint).toContain('"build" option');
  });

  it('a write in its release while toss.json says readOnly: the hint says so', async () => {
    app.configure({ startCommand: 'node server.js', readOnly: true });
    await app.commit('server.js', brokenServer("writeFileSync('orders.json', '[]');"));
    const { run, hint } = await failingDeploy();
    expect(run.stderr).toContain('it could not write orders.json: read-only file system.');
    expect(hint).toContain('"persistentDirs"');
    expect(hint).toContain('toss.json sets "readOnly": true');
    expect(hint).toContain('remove "readOnly"');
  });

  it('the good release served throughout and still does', async () => {
    expect(await fetchSite(host, prodName())).toEqual({ status: 200, body: goodBody });
  });
});
