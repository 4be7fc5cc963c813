/**
 * A preview's deployScript runs as confined as the app. On a real
 * host, a preview's build tries what its user could do outside a sandbox: write the host's
 * /dev/shm, see and signal production's processes, read /proc/1/environ, make a user namespace,
 * open an AF_PACKET socket, and use the root session's output channel. Nothing works and
 * production keeps serving. `systemd-analyze security` of the live build unit scores no worse
 * than the app's unit; a build past its time limit is stopped and says so; `toss ssh` is the
 * environment's user unless --root is asked for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shellJoin } from '../../src/remote/quote.js';
import { envPaths } from '../../src/server/paths.js';
import {
  BUILD_TIMEOUT_EXIT,
  deployScriptFailure,
  deployScriptRunArgv,
} from '../../src/server/systemd-run.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import {
  type AppCheckout,
  inHost,
  makeApp,
  spawnCli,
  sslipName,
  startProbe,
  toss,
} from './support/app.js';

const APP = 'boxed';
const PREVIEW = 'pr-5';
let host: TestHost;
let app: AppCheckout;

// Each attempt prints one line; "ok" only when the attempt did what it tried.
const ATTACK = `prod_pid=$1
tag=$2
if echo planted > "/dev/shm/$tag" 2>/dev/null; then echo "attack shm-write: wrote"; else echo "attack shm-write: refused"; fi
echo "attack proc-uids: $(for d in /proc/[0-9]*; do stat -c %u "$d" 2>/dev/null; done | sort -u | tr '\\n' ' ')"
if [ -d "/proc/$prod_pid" ]; then echo "attack proc-prod: visible"; else echo "attack proc-prod: hidden"; fi
if cat /proc/1/environ >/dev/null 2>&1; then echo "attack environ: ok"; else echo "attack environ: refused"; fi
if kill -0 "$prod_pid" 2>/dev/null; then echo "attack kill: ok"; else echo "attack kill: refused"; fi
if unshare -U true 2>/dev/null; then echo "attack unshare-U: ok"; else echo "attack unshare-U: refused"; fi
if unshare -r true 2>/dev/null; then echo "attack unshare-r: ok"; else echo "attack unshare-r: refused"; fi
echo "attack packet: $(perl -e 'use Socket; socket(my $s, 17, 2, 0) ? print "ok" : print "$!"')"
# This shell's own descriptors ($$: a command substitution's would be a pipe of its own).
echo "attack fds: $(readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2 | tr '\\n' ' ')"
# Every descriptor it holds, printed straight to its output (no pipe of the listing's own).
find /proc/$$/fd -mindepth 1 -printf 'attack any-fd: %l\\n'
echo "attack done"
`;

function attackLine(output: string, name: string): string {
  const line = output.split('\n').find((l) => l.includes(`attack ${name}:`));
  if (line === undefined) throw new Error(`no "attack ${name}" line in:\n${output}`);
  return line.slice(line.indexOf(`attack ${name}:`) + `attack ${name}:`.length).trim();
}

async function livePort(environment: string): Promise<number> {
  const state = JSON.parse(await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`]));
  return state.environments[environment].livePort as number;
}

async function mainPid(environment: string): Promise<number> {
  const unit = `toss-${APP}-${environment}@${await livePort(environment)}.service`;
  const out = await inHost(host, ['systemctl', 'show', '-p', 'MainPID', '--value', unit]);
  return Number(out.trim());
}

async function exposure(unit: string): Promise<number> {
  const result = await host.exec(['systemd-analyze', 'security', '--no-pager', unit]);
  const score = /Overall exposure level for \S+: ([0-9.]+)/.exec(result.stdout)?.[1];
  if (score === undefined)
    throw new Error(`no score for ${unit}: ${result.stdout}${result.stderr}`);
  return Number(score);
}

async function waitFor(what: string, test: () => Promise<boolean> | boolean, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, { app: APP });
  await app.commit('attack.sh', ATTACK);
  const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
}, 300_000);
afterAll(async () => {
  await host?.shutdown();
});

describe("a preview's deployScript", () => {
  it('cannot write the host /dev/shm, see or signal production, unshare, or open AF_PACKET', async () => {
    const prodPid = await mainPid('production');
    expect(prodPid).toBeGreaterThan(1);
    const prodUid = (await inHost(host, ['stat', '-c', '%u', `/proc/${prodPid}`])).trim();
    const tag = `toss-build-${Date.now()}`;
    app.configure({ deployScript: ['node build.js', `sh attack.sh ${prodPid} ${tag}`] });
    const probe = startProbe(host, sslipName(host, APP, 'production'));
    const run = await toss(host, ['deploy', PREVIEW], { cwd: app.dir });
    const probed = await probe.stop();
    expect(run.code, run.output).toBe(0);
    // Each attempt's line came through the relay, so the output still streams.
    expect(run.output).toContain('attack done');

    // Written or not (PrivateDevices gives the unit a /dev/shm of its own), the host's never has it.
    expect(attackLine(run.output, 'shm-write')).toMatch(/^(wrote|refused)$/);
    expect((await host.exec(['test', '-e', `/dev/shm/${tag}`])).code).not.toBe(0);
    expect(await inHost(host, ['find', '/dev/shm', '-name', `${tag}*`])).toBe('');
    const previewUid = (
      await inHost(host, ['stat', '-c', '%u', `/srv/${APP}/${PREVIEW}/cache`])
    ).trim();
    // Only its own user's processes: none of root's, none of production's.
    expect(attackLine(run.output, 'proc-uids').split(' ')).toEqual([previewUid]);
    expect(previewUid).not.toBe(prodUid);
    expect(attackLine(run.output, 'proc-prod')).toBe('hidden');
    expect(attackLine(run.output, 'environ')).toBe('refused');
    expect(attackLine(run.output, 'kill')).toBe('refused');
    expect(attackLine(run.output, 'unshare-U')).toBe('refused');
    expect(attackLine(run.output, 'unshare-r')).toBe('refused');
    // The address-family filter, not the missing capability (that would say "not permitted").
    expect(attackLine(run.output, 'packet')).toBe('Address family not supported by protocol');
    // stdin /dev/null, stdout and stderr the relay's FIFO: no socket or pipe of the root session.
    const fds = attackLine(run.output, 'fds').split(' ');
    expect(fds[0]).toBe('/dev/null');
    expect(fds[1]).toMatch(/^\/run\/toss\/run\.[A-Za-z0-9]+\/out$/);
    expect(fds[2]).toBe(fds[1]);
    const all = run.output.split('\n').filter((line) => line.includes('attack any-fd:'));
    expect(all.length).toBeGreaterThanOrEqual(3);
    for (const line of all) expect(line).not.toMatch(/socket:|pipe:/);
    // The relay's directory is gone with the run.
    expect((await inHost(host, ['ls', '-A', '/run/toss'])).trim()).toBe('');

    expect(await mainPid('production')).toBe(prodPid);
    expect(probed.failed, probed.failures.join('\n')).toBe(0);
    expect(probed.ok).toBeGreaterThan(0);
  });

  it('a failing command still shows its last lines', async () => {
    app.configure({ deployScript: ['node build.js', 'echo first; echo "last words"; exit 3'] });
    const run = await toss(host, ['deploy', PREVIEW], { cwd: app.dir });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('failed (exit 3)');
    expect(run.stderr).toContain('last words');
  });

  it('runs in a unit that systemd-analyze security scores no worse than the app unit', async () => {
    app.configure({ deployScript: ['node build.js', 'echo sleeping; sleep 20'] });
    const deploy = toss(host, ['deploy', PREVIEW], { cwd: app.dir });
    const unit = `toss-run-${APP}-${PREVIEW}.service`;
    await waitFor(`${unit} to run the sleep`, async () => {
      const out = await host.exec(['systemctl', 'show', '-p', 'ExecMainStatus,ActiveState', unit]);
      return (
        out.stdout.includes('ActiveState=active') &&
        (await host.exec(['pgrep', '-f', '^sleep 20$'])).code === 0
      );
    });
    const build = await exposure(unit);
    const appUnit = await exposure(`toss-${APP}-${PREVIEW}@${await livePort(PREVIEW)}.service`);
    const production = await exposure(
      `toss-${APP}-production@${await livePort('production')}.service`,
    );
    console.log(
      `systemd-analyze security: build ${build}, preview app ${appUnit}, production app ${production}`,
    );
    expect(build).toBeGreaterThan(0);
    expect(build).toBeLessThanOrEqual(appUnit);
    expect(build).toBeLessThanOrEqual(production);
    const run = await deploy;
    expect(run.code, run.output).toBe(0);
  }, 120_000);

  it('is stopped at its time limit, and the error says so', async () => {
    const state = JSON.parse(await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`]));
    const releaseId = state.environments[PREVIEW].release as string;
    // The release's env file, as a deploy writes it before the build.
    await inHost(host, [
      'sh',
      '-c',
      'test -e "$1" || install -m 0600 /dev/null "$1"',
      'sh',
      `/srv/${APP}/${PREVIEW}/env/${releaseId}.env`,
    ]);
    const argv = deployScriptRunArgv({
      paths: envPaths(APP, PREVIEW),
      releaseId,
      command: 'echo started; sleep 60; echo never',
      limits: { timeoutSec: 3, memory: '256M', cpu: '50%' },
    });
    const started = Date.now();
    const result = await host.exec(argv);
    const seconds = (Date.now() - started) / 1000;
    expect(result.stdout).toContain('started');
    expect(result.stdout).not.toContain('never');
    expect(result.code, result.stderr).toBe(BUILD_TIMEOUT_EXIT);
    expect(seconds).toBeLessThan(20);
    const failure = deployScriptFailure('deployScript[1]', result.code, result.stderr, 3);
    expect(failure).toEqual({
      message: 'deployScript[1] was stopped: it reached its time limit of 3 s',
      timedOut: true,
    });
    // The same command without a limit is not a timeout: it is its own exit.
    const plain = await host.exec(
      deployScriptRunArgv({ paths: envPaths(APP, PREVIEW), releaseId, command: 'exit 124' }),
    );
    expect(plain.code, plain.stderr).toBe(124);
    expect(deployScriptFailure('x', plain.code, plain.stderr).timedOut).toBe(false);
    expect(
      (
        await host.exec(['systemctl', 'is-active', `toss-run-${APP}-${PREVIEW}.service`])
      ).stdout.trim(),
    ).not.toBe('active');
  }, 60_000);
});

/** The CLI in a real terminal (script(1)), as a person runs `toss ssh`. */
function terminalCli(argv: string[]) {
  return spawnCli(host, argv, {
    cwd: app.dir,
    wrap: (cli) => ['script', '-qec', shellJoin(cli), '/dev/null'],
  });
}

async function shellAs(args: string[]): Promise<{ user: string; dir: string; output: string }> {
  const session = terminalCli(['ssh', ...args]);
  session.child.stdin.write(`printf 'who:%s:%s:\\n' "$(id -un)" "$(pwd)"\n`);
  // The typed line is echoed too: the answer is the one without a %.
  const answer = /who:([^:%\s]+):([^:%\s]+):/;
  await waitFor('id and pwd', () => answer.test(session.output()));
  session.child.stdin.write('exit\n');
  expect(await session.exited).toBe(0);
  const [, user, dir] = answer.exec(session.output()) as RegExpExecArray;
  return { user: user!, dir: dir!, output: session.output() };
}

describe('toss ssh', () => {
  it("opens the environment user's shell in the live release; --root is root, with a warning", async () => {
    const release = (
      await inHost(host, ['readlink', '-f', `/srv/${APP}/${PREVIEW}/current`])
    ).trim();
    const user = (await inHost(host, ['stat', '-c', '%U', `/srv/${APP}/${PREVIEW}/cache`])).trim();
    expect(user).not.toBe('root');

    const plain = await shellAs([PREVIEW]);
    expect(plain).toMatchObject({ user, dir: release });
    expect(plain.output).not.toContain('warning:');

    const root = await shellAs([PREVIEW, '--root']);
    expect(root).toMatchObject({ user: 'root', dir: release });
    expect(root.output).toContain('warning: a root shell');
  }, 120_000);
});
