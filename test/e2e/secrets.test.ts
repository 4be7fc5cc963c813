/**
 * Secrets: base secrets and `-s` overrides reach the release's env file in the
 * right order, persist across deploys and can be removed; env files are root 0600 outside the
 * release; no secret value shows in the CLI's output, in state, or in `ps` on the server during a
 * deploy; a preview's user cannot read production's env files, releases or data, and the
 * production user cannot read the secrets store.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import {
  type AppCheckout,
  fetchSite,
  inHost,
  makeApp,
  sslipName,
  type TossRun,
  toss,
} from './support/app.js';

let host: TestHost;
let app: AppCheckout;
const prodName = () => sslipName(host, 'hello', 'production');
const rnd = randomBytes(6).toString('hex');
const SECRET = `s3cr3t-${rnd}`;
const SECRET2 = `s3cr3t-two-${rnd}`;
const EXTRA = `extra-${rnd}`;
const BASE_ONLY = `base-only-${rnd}`;
const BASE_TOKEN = `base-token-${rnd}`;
const SECRETS_DIR = '/srv/hello/.toss/secrets';
/** Every value that must never be shown anywhere but the env files. */
const SECRET_VALUES = [SECRET, SECRET2, EXTRA, BASE_ONLY, BASE_TOKEN, rnd];
const runs: TossRun[] = [];

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host);
  // As `toss secrets push` or an admin would leave it: root 0600 in the app's secrets store.
  await inHost(host, ['install', '-d', '-m', '0700', '-o', 'root', '-g', 'root', SECRETS_DIR]);
  const written = await host.exec(['sh', '-c', `umask 077; cat > ${SECRETS_DIR}/production.env`], {
    input: [
      '# base secrets of production',
      `BASE_ONLY=${BASE_ONLY}`,
      `TOKEN=${BASE_TOKEN}`,
      'TOSS_ENV=from-base',
      'SHARED=from-base',
      '',
    ].join('\n'),
  });
  expect(written.code, written.stderr).toBe(0);
});
afterAll(async () => {
  await host?.shutdown();
});

async function deployOk(args: string[]) {
  const run = await toss(host, ['deploy', ...args], { cwd: app.dir });
  runs.push(run);
  expect(run.code, run.output).toBe(0);
  return run;
}

async function state() {
  return JSON.parse(await inHost(host, ['cat', '/srv/hello/.toss/state.json']));
}

/** Reads a `KEY="value"` env file as toss writes it (backslash escapes inside double quotes). */
async function readEnv(path: string): Promise<Map<string, string>> {
  const text = await inHost(host, ['cat', path]);
  const env = new Map<string, string>();
  for (const line of text.split('\n').filter(Boolean)) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)="(.*)"$/.exec(line);
    expect(match, `unexpected line in ${path}: ${line}`).not.toBeNull();
    env.set(match![1]!, match![2]!.replace(/\\(.)/g, '$1'));
  }
  return env;
}

async function liveEnvFile(environment = 'production') {
  const env = (await state()).environments[environment];
  return { path: `/srv/hello/${environment}/env/${env.release}.env`, ...env };
}

async function statOf(path: string): Promise<string> {
  return (await inHost(host, ['stat', '-c', '%U %G %a', path])).trim();
}

function expectNoSecrets(text: string, where: string) {
  for (const value of SECRET_VALUES)
    expect(text.includes(value), `${value} in ${where}`).toBe(false);
}

/** Runs argv inside the host as `user` in a transient unit, as an app's process would. */
function asUser(user: string, argv: string[]) {
  return host.exec([
    'systemd-run',
    '--wait',
    '--pipe',
    '--quiet',
    '--collect',
    `--uid=${user}`,
    `--gid=${user}`,
    '--',
    ...argv,
  ]);
}

describe('secrets and overrides', () => {
  it('merges base < -s override < TOSS_* into a root 0600 env file outside the release', async () => {
    await deployOk([
      'production',
      '-s',
      `TOKEN=${SECRET}`,
      '-s',
      `EXTRA=${EXTRA}`,
      '-s',
      'TOSS_APP=from-override',
    ]);
    expect((await fetchSite(host, prodName())).body).toBe('Hello from toss!\n');
    const first = await liveEnvFile();
    const env1 = await readEnv(first.path);
    expect(env1.get('BASE_ONLY')).toBe(BASE_ONLY);
    expect(env1.get('SHARED')).toBe('from-base');
    expect(env1.get('TOKEN')).toBe(SECRET); // override beats base
    expect(env1.get('EXTRA')).toBe(EXTRA);
    expect(env1.get('TOSS_ENV')).toBe('production'); // toss's own beat base…
    expect(env1.get('TOSS_APP')).toBe('hello'); // …and overrides
    expect(env1.get('TOSS_RELEASE_DIR')).toBe(`/srv/hello/production/releases/${first.release}`);

    // Root 0600, in env/, not in the release (nor anywhere in the served tree).
    expect(await statOf(first.path)).toBe('root root 600');
    expect(first.path.startsWith('/srv/hello/production/releases/')).toBe(false);
    const inRelease = await host.exec([
      'grep',
      '-rlF',
      '-e',
      SECRET,
      '-e',
      BASE_ONLY,
      '/srv/hello/production/releases',
      '/srv/hello/production/preserve',
      '/etc/caddy',
      '/etc/systemd/system',
    ]);
    expect(inRelease.code, inRelease.stdout).toBe(1);
    const overridesFile = `${SECRETS_DIR}/overrides/production.env`;
    expect(await statOf(overridesFile)).toBe('root root 600');

    // The app's process has them (systemd read the env file as root).
    const unit = `toss-hello-production@${first.livePort}.service`;
    const pid = (await inHost(host, ['systemctl', 'show', '-P', 'MainPID', unit])).trim();
    expect(Number(pid)).toBeGreaterThan(0);
    const environ = (await inHost(host, ['cat', `/proc/${pid}/environ`])).split('\0');
    expect(environ).toContain(`TOKEN=${SECRET}`);
    expect(environ).toContain(`BASE_ONLY=${BASE_ONLY}`);
    expect(environ).toContain(`PORT=${first.livePort}`);
    expect(environ).toContain('HOST=127.0.0.1');
  });

  it('keeps the overrides on a later deploy without -s', async () => {
    const first = await liveEnvFile();
    await app.commit('message.txt', 'Second\n');
    await deployOk(['production']);
    const second = await liveEnvFile();
    expect(second.release).not.toBe(first.release);
    const env2 = await readEnv(second.path);
    expect(env2.get('TOKEN')).toBe(SECRET);
    expect(env2.get('EXTRA')).toBe(EXTRA);
    expect(env2.get('BASE_ONLY')).toBe(BASE_ONLY);
    expect(await statOf(second.path)).toBe('root root 600');
  });

  it('removes an override with -s KEY=, the others staying; no value in output, state or registry', async () => {
    const overridesFile = `${SECRETS_DIR}/overrides/production.env`;
    await deployOk(['production', '-s', 'EXTRA=']);
    const third = await liveEnvFile();
    const env3 = await readEnv(third.path);
    expect(env3.has('EXTRA')).toBe(false);
    expect(env3.get('TOKEN')).toBe(SECRET);
    expect((await readEnv(overridesFile)).has('EXTRA')).toBe(false);
    expect((await fetchSite(host, prodName())).body).toBe('Second\n');

    // No value in the CLI's output, in state or in the registry.
    for (const [i, run] of runs.entries()) expectNoSecrets(run.output, `toss run ${i} output`);
    expectNoSecrets(await inHost(host, ['cat', '/srv/hello/.toss/state.json']), 'state.json');
    expectNoSecrets(await inHost(host, ['cat', '/var/lib/toss/registry.json']), 'registry.json');
  });

  it('shows no secret value in ps on the server while deploys with -s run', async () => {
    // Sample every process's full command line every 20 ms inside the host while deploys run.
    const log = '/root/ps-samples.log';
    const stop = '/root/ps-samples.stop';
    const sampler = host.exec([
      'sh',
      '-c',
      `rm -f ${stop}; while [ ! -e ${stop} ]; do ps -eww -o args; echo ---sample---; sleep 0.02; done > ${log}`,
    ]);
    await new Promise((r) => setTimeout(r, 300));
    try {
      await deployOk(['production', '-s', `TOKEN=${SECRET2}`]);
      await deployOk(['pr-3', '-s', `PREVIEW_TOKEN=${SECRET}`]);
    } finally {
      await inHost(host, ['touch', stop]);
      await sampler;
    }
    const samples = await inHost(host, ['cat', log]);
    const count = samples.split('\n').filter((l) => l === '---sample---').length;
    expect(count).toBeGreaterThan(50);
    // The samples did see the deploys' remote commands.
    expect(samples).toContain('/srv/hello/production/releases/');
    expect(samples).toContain('/srv/hello/pr-3/releases/');
    expectNoSecrets(samples, 'ps output');
    expect((await readEnv((await liveEnvFile()).path)).get('TOKEN')).toBe(SECRET2);
  });

  it("runs the preview as another user that cannot read production's env, release, data or store", async () => {
    // The preview runs as another user and got none of production's secrets.
    const prod = await liveEnvFile();
    const pr = await liveEnvFile('pr-3');
    const prEnv = await readEnv(pr.path);
    expect(prEnv.get('PREVIEW_TOKEN')).toBe(SECRET);
    for (const key of ['TOKEN', 'BASE_ONLY', 'SHARED']) expect(prEnv.has(key), key).toBe(false);
    const prodUser = (
      await inHost(host, [
        'systemctl',
        'show',
        '-P',
        'User',
        `toss-hello-production@${prod.livePort}.service`,
      ])
    ).trim();
    const prUser = (
      await inHost(host, [
        'systemctl',
        'show',
        '-P',
        'User',
        `toss-hello-pr-3@${pr.livePort}.service`,
      ])
    ).trim();
    expect(prodUser).not.toBe('');
    expect(prUser).not.toBe('');
    expect(prUser).not.toBe(prodUser);
    expect([prodUser, prUser]).not.toContain('root');

    // As the preview's user: production's env file, directory, data and the store are closed.
    for (const argv of [
      ['cat', prod.path],
      ['ls', '/srv/hello/production'],
      ['cat', `/srv/hello/production/releases/${prod.release}/server.js`],
      ['cat', '/srv/hello/production/preserve/data/boots.log'],
      ['cat', `${SECRETS_DIR}/production.env`],
      ['cat', `${SECRETS_DIR}/overrides/production.env`],
    ]) {
      const result = await asUser(prUser, argv);
      expect(result.code, `${argv.join(' ')} as ${prUser}: ${result.stdout}`).not.toBe(0);
      expect(result.stderr, argv.join(' ')).toContain('Permission denied');
      expectNoSecrets(result.stdout, `${argv.join(' ')} as ${prUser}`);
    }
    // The preview user can reach its own release (the check above is not just a broken runner).
    const own = await asUser(prUser, ['cat', `/srv/hello/pr-3/releases/${pr.release}/message.txt`]);
    expect(own.code, own.stderr).toBe(0);
    expect(own.stdout).toBe('Second\n');
  });

  it("keeps the secrets store and env files closed to production's own user", async () => {
    const prod = await liveEnvFile();
    const prodUser = (
      await inHost(host, [
        'systemctl',
        'show',
        '-P',
        'User',
        `toss-hello-production@${prod.livePort}.service`,
      ])
    ).trim();
    expect(prodUser).toMatch(/^toss-/);
    for (const argv of [
      ['cat', `${SECRETS_DIR}/production.env`],
      ['cat', `${SECRETS_DIR}/overrides/production.env`],
      ['cat', prod.path],
    ]) {
      const result = await asUser(prodUser, argv);
      expect(result.code, `${argv.join(' ')} as ${prodUser}: ${result.stdout}`).not.toBe(0);
      expect(result.stderr, argv.join(' ')).toContain('Permission denied');
      expectNoSecrets(result.stdout, `${argv.join(' ')} as ${prodUser}`);
    }
    for (const [i, run] of runs.entries()) expectNoSecrets(run.output, `toss run ${i} output`);
    expectNoSecrets(await inHost(host, ['cat', '/srv/hello/.toss/state.json']), 'state.json');
  });
});
