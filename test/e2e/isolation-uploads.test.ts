/**
 * Uploads contain only the checkout. Against a real host, through the CLI and
 * the action as the runner runs it:
 * - a `root` that is a symlink out of the checkout (to the job's RUNNER_TEMP, to /) and
 *   `exclude: ["!"]` (rsync's clear-the-list) are refused naming the field, before any login,
 *   with nothing changed on the server;
 * - a normal deploy whose checkout carries a token in .git/config and ignore files trying "!" and
 *   "+ .git" uploads no .git, no .env and no file holding the key;
 * - the action keeps the key off disk: no file of the workspace or RUNNER_TEMP holds it, during
 *   the deploy or after post.
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGitHub, startFakeGitHub } from '../support/fake-github/server.js';
import { branchPush, example } from '../support/webhook-events.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import {
  type AppCheckout,
  fetchSite,
  inHost,
  makeApp,
  sshLogins,
  sslipName,
  toss,
} from './support/app.js';
import { type ActionRun, type ActionRunOptions, runAction } from './support/runner.js';

const TOKEN = `ghs_${Math.random().toString(36).slice(2)}uploadtoken`;
let host: TestHost;
let fake: FakeGitHub;
let app: AppCheckout;

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  fake = await startFakeGitHub();
  app = await makeApp(host, {}, 'https://github.com/Codertocat/Hello-World.git');
  // What actions/checkout leaves behind: the job's token in .git/config. Plus the checkout's
  // own ignore files trying rsync's clear-the-list and include rules.
  await app.commit('.gitignore', '!\n+ .git\n+ .env*\n');
  await app.commit('.tossignore', '!\n');
  const git = join(app.dir, '.git', 'config');
  const config = readFileSync(git, 'utf8');
  writeFileSync(
    git,
    `${config}[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic ${TOKEN}\n`,
  );
  writeFileSync(join(app.dir, '.env'), `TOKEN=${TOKEN}\n`);
});
afterAll(async () => {
  await fake?.close();
  await host?.shutdown();
});

/** The body of the test host's private key: its longest base64 line. */
const keyLine = () =>
  host.key
    .split('\n')
    .filter((l) => !l.startsWith('-----'))
    .sort((a, b) => b.length - a.length)[0]!;

/** Local files under `dir` (symlinks not followed) whose content holds the key. */
function localKeyFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...localKeyFiles(path));
    else if (entry.isFile() && readFileSync(path, 'latin1').includes(keyLine())) out.push(path);
  }
  return out;
}

/** Every path under /srv and toss's unit and site files, with owner, mode and size. */
async function serverSnapshot(): Promise<string> {
  return inHost(host, [
    'sh',
    '-c',
    'find /srv /etc/caddy /etc/systemd/system -xdev -printf "%p %u:%g %m %s %l\\n" | sort',
  ]);
}

/** Files of a release on the host that hold the key, the token, or are named .git / .env*. */
async function leaks(release: string): Promise<string> {
  return inHost(host, [
    'sh',
    '-c',
    'cd "$1" && { find . \\( -name .git -o -name ".env*" \\) -print; grep -rlF -e "$2" -e "$3" . ; } | sort -u',
    'sh',
    release,
    keyLine(),
    TOKEN,
  ]);
}

async function action(
  options: Partial<ActionRunOptions> & Pick<ActionRunOptions, 'eventName' | 'payload'>,
): Promise<ActionRun> {
  return runAction({
    workspace: app.dir,
    apiUrl: fake.url,
    repository: fake.repository,
    inputs: {
      'ssh-key': host.key,
      'known-hosts': host.knownHostsLines.join('\n'),
      'github-token': 'ghs_fake_installation_token',
      'lock-wait': '60',
    },
    ...options,
  });
}

const push = () =>
  branchPush(
    example('push', (p) => p.ref.startsWith('refs/heads/') && !p.deleted),
    'master',
  );

describe('uploads contain only the checkout', () => {
  it('a normal deploy uploads no .git, no .env and no key, whatever the ignore files say', async () => {
    const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
    expect(run.code, run.output).toBe(0);
    expect((await fetchSite(host, sslipName(host, 'hello', 'production'))).body).toBe(
      'Hello from toss!\n',
    );
    const current = '/srv/hello/production/current/';
    expect(await inHost(host, ['test', '-f', `${current}server.js`])).toBe('');
    expect(await leaks(current)).toBe('');
  });

  const outside = mkdtempSync(join(tmpdir(), 'toss-runner-temp-'));

  it.each([
    ['root: a symlink to RUNNER_TEMP', 'temp', outside, /root: "temp" leads out of the checkout/],
    ['root: a symlink to /', 'slash', '/', /root: "slash" leads out of the checkout/],
  ])(
    'CLI, %s: refused naming the field, no login, nothing changed',
    async (_what, root, target, message) => {
      symlinkSync(target, join(app.dir, root));
      app.configure({ root });
      const before = await serverSnapshot();
      const logins = await sshLogins(host);
      const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
      app.configure({ root: '.' });
      unlinkSync(join(app.dir, root));
      expect(run.code, run.output).not.toBe(0);
      expect(run.output).toMatch(message);
      expect(await sshLogins(host)).toBe(logins);
      expect(await serverSnapshot()).toBe(before);
    },
  );

  it.each([[['!']], [['*.log', '!']], [['+ .git']]])(
    'CLI, exclude %j: refused naming the field, no login, nothing changed',
    async (exclude) => {
      app.configure({ exclude });
      const before = await serverSnapshot();
      const logins = await sshLogins(host);
      const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
      app.configure({ exclude: [] });
      expect(run.code, run.output).not.toBe(0);
      const bad = exclude.length - 1;
      expect(run.output).toContain(`exclude[${bad}]: expected a plain exclude pattern`);
      expect(await sshLogins(host)).toBe(logins);
      expect(await serverSnapshot()).toBe(before);
    },
  );

  it('action: a root symlinked to the job’s RUNNER_TEMP is refused before any login', async () => {
    const runnerTemp = mkdtempSync(join(tmpdir(), 'toss-runner-'));
    mkdirSync(join(runnerTemp, 'keys'));
    symlinkSync(runnerTemp, join(app.dir, 'runner-temp'));
    app.configure({ root: 'runner-temp' });
    const before = await serverSnapshot();
    const logins = await sshLogins(host);
    const run = await action({
      eventName: 'push',
      payload: push(),
      ref: 'refs/heads/master',
      runnerTemp,
    });
    app.configure({ root: '.' });
    unlinkSync(join(app.dir, 'runner-temp'));
    expect(run.code, `${run.stdout}\n${run.stderr}`).not.toBe(0);
    expect(run.stdout).toMatch(/::error.*root: "runner-temp" leads out of the checkout/);
    expect(await sshLogins(host)).toBe(logins);
    expect(await serverSnapshot()).toBe(before);
    expect(localKeyFiles(runnerTemp)).toEqual([]);
  });

  it('action: exclude ["!"] is refused naming the field before any login', async () => {
    app.configure({ exclude: ['!'] });
    const before = await serverSnapshot();
    const logins = await sshLogins(host);
    const run = await action({ eventName: 'push', payload: push(), ref: 'refs/heads/master' });
    app.configure({ exclude: [] });
    expect(run.code, `${run.stdout}\n${run.stderr}`).not.toBe(0);
    expect(run.stdout).toContain('exclude[0]: expected a plain exclude pattern');
    expect(await sshLogins(host)).toBe(logins);
    expect(await serverSnapshot()).toBe(before);
  });

  it('action: no file of the workspace or RUNNER_TEMP holds the key, during the deploy or after post; the release holds none', async () => {
    app.configure({ deployScript: ['node build.js', 'echo long step started; sleep 3'] });
    const runnerTemp = mkdtempSync(join(tmpdir(), 'toss-runner-'));
    let during: string[] | undefined;
    const main = await action({
      eventName: 'push',
      payload: push(),
      ref: 'refs/heads/master',
      runnerTemp,
      killWhen: (out) => {
        if (during === undefined && out.includes('long step started')) {
          during = [...localKeyFiles(runnerTemp), ...localKeyFiles(app.dir)];
        }
        return false;
      },
    });
    app.configure({ deployScript: ['node build.js'] });
    expect(main.code, `${main.stdout}\n${main.stderr}`).toBe(0);
    expect(during).toEqual([]);
    const environment = main.outputs.environment!;
    const release = `/srv/hello/${environment}/releases/${main.outputs.release}/`;
    expect(await leaks(release)).toBe('');
    const post = await action({
      eventName: 'push',
      payload: push(),
      ref: 'refs/heads/master',
      state: main.state,
      runnerTemp,
    });
    expect(post.code, `${post.stdout}\n${post.stderr}`).toBe(0);
    expect([...localKeyFiles(runnerTemp), ...localKeyFiles(app.dir)]).toEqual([]);
  });
});
