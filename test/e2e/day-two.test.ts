/**
 * Day-two commands end to end: list, logs, ssh through a real pseudo-terminal,
 * rollback, secrets push/pull, lock status/release and drift in status — the real CLI against a
 * real host.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as dotenvParse } from 'dotenv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shellJoin } from '../../src/remote/quote.js';
import { parseState, serializeState } from '../../src/server/state.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import {
  type AppCheckout,
  fetchSite,
  inHost,
  makeApp,
  spawnCli,
  sslipName,
  toss,
} from './support/app.js';

const STATE = '/srv/hello/.toss/state.json';
let host: TestHost;
let app: AppCheckout;
const prodName = () => sslipName(host, 'hello', 'production');

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host);
});
afterAll(async () => {
  await host?.shutdown();
});

async function tossOk(args: string[]) {
  const run = await toss(host, args, { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
  return run;
}

async function readState() {
  return parseState(await inHost(host, ['cat', STATE]))!;
}

async function waitFor(
  what: string,
  test: () => boolean,
  timeoutMs = 60_000,
  output: () => string = () => '',
) {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('day-two commands against a real server', () => {
  it('lists production and two previews with ports, releases, commits and active services', async () => {
    await tossOk(['deploy', 'production']);
    await tossOk(['deploy', 'pr-3']);
    await tossOk(['deploy', 'pr-4']);
    const state = await readState();
    const run = await tossOk(['list', '--json']);
    const listing = JSON.parse(run.stdout);
    expect(listing.version).toBe(1);
    expect(listing.app).toBe('hello');
    expect(listing.environments.map((e: { name: string }) => e.name)).toEqual([
      'production',
      'pr-3',
      'pr-4',
    ]);
    for (const env of listing.environments) {
      const recorded = state.environments[env.name]!;
      expect(env.ports).toEqual(recorded.ports);
      expect(env.livePort).toBe(recorded.livePort);
      expect(env.release).toBe(recorded.release);
      expect(env.commit).toBe(recorded.commit);
      expect(env.commit).toMatch(/^[0-9a-f]{40}$/);
      expect(env.service).toBe('active');
      expect(env.url).toBe(`https://${sslipName(host, 'hello', env.name)}/`);
      expect(Object.keys(env).sort()).toEqual(
        [
          'name',
          'url',
          'ports',
          'livePort',
          'release',
          'previousRelease',
          'releases',
          'commit',
          'deployedAt',
          'by',
          'runUrl',
          'branch',
          'pr',
          'service',
          'database',
        ].sort(),
      );
      // This app has no database: null, never missing.
      expect(env.database).toBeNull();
    }
    const table = await tossOk(['list']);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    // Piped: every column, every URL whole (a terminal's width is list-width.test.ts).
    expect(lines[0]).toMatch(/^ENVIRONMENT +URL +PORT +RELEASE +COMMIT +DEPLOYED +BY +SERVICE$/);
    for (const env of listing.environments) {
      expect(lines.some((line) => line.includes(env.url))).toBe(true);
    }
    expect(lines[1]).toContain('production');
    expect(lines[1]).toContain('active');
  });

  it("prints the app's journal, and follows it until Ctrl-C, exiting 0", async () => {
    const run = await tossOk(['logs', 'production', '-n', '20']);
    expect(run.stdout).toContain('hello listening on 127.0.0.1:');
    // -n 1: the last line shows once journalctl runs, so nothing the app writes next is missed.
    const follow = spawnCli(host, ['logs', 'production', '-f', '-n', '1'], { cwd: app.dir });
    await waitFor(
      'journalctl to start following',
      () => follow.output().trim() !== '',
      60_000,
      follow.output,
    );
    const seen = follow.output().length;
    const { livePort } = (await readState()).environments.production!;
    const unit = `toss-hello-production@${livePort}.service`;
    await inHost(host, ['systemctl', 'restart', unit]);
    await waitFor(
      'a new "hello listening" line',
      () => follow.output().slice(seen).includes('hello listening on'),
      60_000,
      follow.output,
    );
    expect(follow.output().slice(seen)).toContain(`Started ${unit}`);
    follow.child.kill('SIGINT');
    expect(await follow.exited).toBe(0);
  });

  it('opens a shell in the current release directory through a real terminal', async () => {
    const release = (
      await inHost(host, ['readlink', '-f', '/srv/hello/production/current'])
    ).trim();
    expect(release).toMatch(/^\/srv\/hello\/production\/releases\/\d{8}T\d{6}Z-[0-9a-f]{4}$/);
    const session = spawnCli(host, ['ssh', 'production'], {
      cwd: app.dir,
      wrap: (cli) => ['script', '-qec', shellJoin(cli), '/dev/null'],
    });
    // Typed ahead: the terminal holds it until the remote shell reads it. The marker keeps the
    // prompt (which shows the directory too) from passing for pwd's answer.
    session.child.stdin.write(`printf 'at:%s:\\n' "$(pwd)"\n`);
    await waitFor(
      'pwd output',
      () => session.output().includes(`at:${release}:`),
      60_000,
      session.output,
    );
    session.child.stdin.write('exit\n');
    expect(await session.exited).toBe(0);
    expect(session.output()).toContain(`at:${release}:`);
  });

  it('rolls back to the previous release over HTTPS, and refuses to go past the oldest', async () => {
    await app.commit('message.txt', 'Release 2\n');
    await tossOk(['deploy', 'production']);
    expect((await fetchSite(host, prodName())).body).toBe('Release 2\n');
    const before = (await readState()).environments.production!;

    const run = await tossOk(['rollback', 'production']);
    expect(run.stdout).toContain(before.previousRelease!);
    expect((await fetchSite(host, prodName())).body).toBe('Hello from toss!\n');
    const after = (await readState()).environments.production!;
    expect(after.release).toBe(before.previousRelease);
    expect(after.previousRelease).toBe(before.release);
    expect(after.livePort).not.toBe(before.livePort);
    // The commit shown is the one that built the release now live again.
    expect(after.commit).toBe(before.commits?.[after.release]);
    expect(after.commit).toMatch(/^[0-9a-f]{40}$/);
    const current = (await inHost(host, ['readlink', '/srv/hello/production/current'])).trim();
    expect(current).toBe(`releases/${after.release}`);

    const releases = await tossOk(['releases', 'production']);
    expect(releases.stdout).toMatch(new RegExp(`${after.release}\\s+live`));
    expect(releases.stdout).toMatch(new RegExp(`${before.release}\\s+previous`));

    const refused = await toss(host, ['rollback', 'production'], { cwd: app.dir });
    expect(refused.code, refused.output).toBe(1);
    expect(refused.stderr).toContain('oldest kept release');
    expect(refused.stderr).toContain(before.release);
    const unknown = await toss(host, ['rollback', 'production', '20200101T000000Z-abcd'], {
      cwd: app.dir,
    });
    expect(unknown.code, unknown.output).toBe(1);
    expect(unknown.stderr).toContain(`can be rolled back to: ${before.release}`);
    expect((await fetchSite(host, prodName())).body).toBe('Hello from toss!\n');
    expect((await readState()).lock).toBeNull();
  });

  it('round-trips secrets through push and pull, and rejects a bad line by its number', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'toss-secrets-'));
    const local = join(dir, '.env.production');
    const text = [
      '# production secrets',
      '',
      'PLAIN=value',
      'EQUALS=a=b=c',
      'DOUBLE="say \\"hi\\" = yes"',
      'SINGLE=\'it has "double" quotes and a # hash\'',
      'export SPACED = spaced out  # a comment',
      'MULTI="line one',
      'line two"',
      'EMPTY=',
      '',
    ].join('\n');
    writeFileSync(local, text);
    const push = await tossOk(['secrets', 'push', 'production', '--file', local]);
    expect(push.output).not.toContain('value');
    const mode = await inHost(host, [
      'stat',
      '-c',
      '%a %U',
      '/srv/hello/.toss/secrets/production.env',
    ]);
    expect(mode.trim()).toBe('600 root');

    const pulled = join(dir, 'pulled.env');
    await tossOk(['secrets', 'pull', 'production', '--file', pulled]);
    expect(statSync(pulled).mode & 0o777).toBe(0o600);
    expect(dotenvParse(readFileSync(pulled))).toEqual(dotenvParse(text));
    expect(Object.keys(dotenvParse(text))).toHaveLength(7);

    const again = await toss(host, ['secrets', 'pull', 'production', '--file', pulled], {
      cwd: app.dir,
    });
    expect(again.code, again.output).toBe(1);
    expect(again.stderr).toContain('--force');
    await tossOk(['secrets', 'pull', 'production', '--file', pulled, '--force']);

    const bad = join(dir, 'bad.env');
    writeFileSync(bad, 'GOOD=1\n# fine\nthis line is wrong\nALSO=ok\n');
    const refused = await toss(host, ['secrets', 'push', 'production', '--file', bad], {
      cwd: app.dir,
    });
    expect(refused.code, refused.output).toBe(1);
    expect(refused.stderr).toContain('line 3');
    // Nothing was uploaded: the server still has the good file.
    const server = await inHost(host, ['cat', '/srv/hello/.toss/secrets/production.env']);
    expect(server).toContain('PLAIN="value"');
  });

  it("shows a held lock's holder and run, refuses to release it without --force", async () => {
    const state = await readState();
    const now = new Date().toISOString();
    const lock = {
      environment: 'pr-3',
      token: 'b'.repeat(32),
      host: 'ci-runner-elsewhere',
      pid: 4242,
      startedAt: now,
      heartbeatAt: now,
      by: 'octocat (github-actions)',
      runUrl: 'https://github.com/octo/hello/actions/runs/42',
    };
    const planted = await host.exec(
      ['sh', '-c', 'umask 077 && cat > "$1.plant" && mv -f -- "$1.plant" "$1"', 'sh', STATE],
      { input: serializeState({ ...state, lock }) },
    );
    expect(planted.code, planted.stderr).toBe(0);

    const status = await tossOk(['lock', 'status']);
    expect(status.stdout).toContain('octocat (github-actions)');
    expect(status.stdout).toContain('https://github.com/octo/hello/actions/runs/42');
    expect(status.stdout).toContain('ci-runner-elsewhere');

    const refused = await toss(host, ['lock', 'release'], { cwd: app.dir });
    expect(refused.code, refused.output).toBe(1);
    expect(refused.stderr).toContain('refusing to release a live lock');
    expect((await readState()).lock?.token).toBe(lock.token);

    const forced = await tossOk(['lock', 'release', '--force']);
    expect(forced.stdout).toContain('released');
    expect((await readState()).lock).toBeNull();
    const free = await tossOk(['lock', 'status']);
    expect(free.stdout).toContain('not locked');
  });

  it('reports a unit template deleted by hand and names the command that repairs it', async () => {
    await inHost(host, ['rm', '-f', '/etc/systemd/system/toss-hello-pr-4@.service']);
    await inHost(host, ['systemctl', 'daemon-reload']);
    const run = await tossOk(['status']);
    expect(run.stdout).toContain('toss-hello-pr-4@.service is missing');
    expect(run.stdout).toContain('fix: toss deploy pr-4');
    const json = JSON.parse((await tossOk(['status', '--json'])).stdout);
    expect(json.warnings).toContainEqual(
      expect.objectContaining({
        kind: 'unit-missing',
        environment: 'pr-4',
        fix: 'toss deploy pr-4',
      }),
    );
    expect(json.environments).toHaveLength(3);
    expect(json.lock).toBeNull();

    await tossOk(['deploy', 'pr-4']);
    const repaired = JSON.parse((await tossOk(['status', '--json'])).stdout);
    expect(repaired.warnings.filter((w: { kind: string }) => w.kind === 'unit-missing')).toEqual(
      [],
    );
  });
});
