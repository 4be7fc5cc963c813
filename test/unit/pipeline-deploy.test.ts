/**
 * deploy() against the recording fake server: the remote commands of a deploy in their order,
 * what travels on stdin, the events, and what a failed step leaves behind (a failed build, a
 * failed health check, a lock lost mid-deploy, Caddy refusing the site).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LockError } from '../../src/errors.js';
import { deploy } from '../../src/pipeline/deploy.js';
import type { LocalBuilder } from '../../src/pipeline/local-build.js';
import type { DeployRequest, DeployResult } from '../../src/pipeline/request.js';
import type { OpenServer } from '../../src/pipeline/server.js';
import { StepError } from '../../src/pipeline/step.js';
import {
  ACTOR,
  eventLog,
  FakeHost,
  inOrder,
  LOGIN,
  type Phase,
  phased,
  phaseView,
  testConfig,
} from '../support/fake-server.js';

const SOURCE = mkdtempSync(join(tmpdir(), 'toss-pipeline-src-'));
const SECRETS_FILE = '/srv/shop/.toss/secrets/production.env';
const SITE_FILE = '/etc/caddy/toss/shop-production.caddy';
const DB_SECRET = 's3cret-db-password';
const OVERRIDE = 'over-ride-api-key';
const RELEASE_ID = /^\d{8}T\d{6}Z-[0-9a-f]{4}$/;

let host: FakeHost;

afterEach(() => {
  // Every command the pipeline sent is one the fake knows, and every connection was closed.
  expect(host.unknown).toEqual([]);
  expect(host.closed).toBe(host.connections);
});

/**
 * A deploy of `commit`: the tree holds a file that says which, so a new commit is a change (the
 * same one again is a no-change deploy, see fingerprint.ts).
 */
function request(fields: Partial<DeployRequest> = {}): DeployRequest {
  const req: DeployRequest = {
    config: testConfig(),
    login: LOGIN,
    environment: 'production',
    actor: ACTOR,
    lockWaitSeconds: 0,
    connect: host.connect,
    sourceDir: SOURCE,
    origin: 'https://github.com/octo/shop.git',
    commit: 'a'.repeat(40),
    overrides: [`API_KEY=${OVERRIDE}`],
    ...fields,
  };
  writeFileSync(join(SOURCE, 'commit'), `${req.commit}\n`);
  return req;
}

function freshHost(): FakeHost {
  host = new FakeHost();
  host.files.set(SECRETS_FILE, `DB_PASSWORD=${DB_SECRET}\n`);
  return host;
}

/** A host where production was deployed once (on port 3000); the log starts empty. */
async function deployedHost() {
  freshHost();
  const first = await deploy(request({ commit: '1'.repeat(40) }), eventLog().sink);
  const site = host.files.get(SITE_FILE);
  host.reset();
  return { first, site };
}

/** What production serves and runs: unchanged by a failed deploy. */
function liveView() {
  return {
    site: host.files.get(SITE_FILE),
    current: host.disk('shop', 'production')?.links.get('current'),
    running: [...host.running],
    release: host.state('shop')?.environments.production?.release,
    lock: host.lockHolder('shop'),
  };
}

async function failure(promise: Promise<unknown>): Promise<StepError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepError);
  return error as StepError;
}

describe('a first deploy', () => {
  let result: DeployResult;
  let log: ReturnType<typeof eventLog>;

  beforeAll(async () => {
    freshHost();
    log = eventLog();
    result = await deploy(request(), log.sink);
  });

  it('serves production on the first port of its pair', () => {
    expect(result).toMatchObject({
      environment: 'production',
      url: 'https://shop.example.com/',
      port: 3000,
      confirmed: true,
    });
    expect(result.release).toMatch(RELEASE_ID);
  });

  it('runs its commands in order: names, env files and upload, build, start, health, route, switch', () => {
    const phases: Phase[] = [
      // What the server has, read at once; the first upload's directory made alongside.
      { any: ['list ports', 'list releases', 'prepare incoming'] },
      // The names claimed, then the directories made.
      ['ensure users', 'prepare directories'],
      // The env files and the release's placement go side by side.
      {
        any: [
          'write overrides',
          'write release env',
          'adopt staging',
          'link persistent dirs',
          'open release to app',
        ],
      },
      ['build', 'build'],
      [
        // The seal leaves a writable release's directories the app's: no second walk.
        'seal release',
        'install unit',
        'point slot',
        'port guard',
        'start instance',
      ],
      ['health check'],
      ['install site'],
      // Switch and the HTTPS check side by side.
      { any: ['switch current', 'retire old instance', 'site check'] },
    ];
    expect(phased(host.labels(), phases)).toEqual(phaseView(phases));
    expect(
      inOrder(host.labels(), ['adopt staging', 'link persistent dirs', 'open release to app']),
    ).toBe(true);
    expect(inOrder(host.labels(), ['switch current', 'retire old instance'])).toBe(true);
  });

  it("names the build's commands, the port and the release in its commands", () => {
    const [ci, build] = host.find('build');
    expect(ci!.argv).toContain('npm ci');
    expect(build!.argv).toContain('npm run build');
    for (const label of ['start instance', 'health check', 'port guard']) {
      expect(host.find(label)[0]!.argv.join(' '), label).toContain('@3000.service');
    }
    expect(host.find('point slot')[0]!.argv).toContain('/srv/shop/production/slots/3000');
    expect(host.find('point slot')[0]!.argv).toContain(`../releases/${result.release}`);
    expect(host.find('switch current')[0]!.argv).toContain(`releases/${result.release}`);
    expect(host.find('adopt staging')[0]!.argv.at(-1)).toBe(
      `/srv/shop/production/releases/${result.release}`,
    );
    // A first deploy retires nothing.
    expect(host.find('retire old instance')[0]!.argv).toContain('');
  });

  it('sends secrets on stdin only, and the unit and site as they are written', () => {
    const env = host.find('write release env')[0]!;
    expect(env.argv.join(' ')).toContain(`/srv/shop/production/env/${result.release}.env`);
    expect(env.stdin).toContain(`DB_PASSWORD="${DB_SECRET}"`);
    expect(env.stdin).toContain(`API_KEY="${OVERRIDE}"`);
    expect(env.stdin).toContain('PORT="3000"');
    expect(host.find('write overrides')[0]!.stdin).toBe(`API_KEY="${OVERRIDE}"\n`);
    for (const command of host.commands()) {
      expect(command.argv.join(' ')).not.toContain(DB_SECRET);
      expect(command.argv.join(' ')).not.toContain(OVERRIDE);
    }
    expect(host.find('install unit')[0]!.stdin).toContain('node server.js');
    expect(host.find('install site')[0]!.stdin).toMatch(
      /shop\.example\.com \{[\s\S]*reverse_proxy 127\.0\.0\.1:3000/,
    );
  });

  it('uploads alongside the lock into a directory of its own, adopted once the claim made the directories', () => {
    const uploads = host.calls.filter((c) => c.kind === 'upload');
    expect(uploads.map((c) => c.ok === true)).toEqual([true]);
    const staged = uploads[0]!.upload!;
    expect(staged.releaseDir).toMatch(/^\/srv\/\.toss-incoming\/shop\.production\.\d{8}T\d{6}Z-/);
    expect(staged.confineTo).toBe('/srv/.toss-incoming');
    expect(staged.linkDest).toBeUndefined();
    const index = (label: string) =>
      host.calls.findIndex((c) => c.commands.some((x) => x.label === label));
    expect(index('prepare incoming')).toBeLessThan(host.calls.indexOf(uploads[0]!));
    expect(index('adopt staging')).toBeGreaterThan(index('prepare directories'));
    expect(host.find('adopt staging')[0]!.argv.slice(-2)).toEqual([
      staged.releaseDir,
      `/srv/shop/production/releases/${result.release}`,
    ]);
    expect([...host.incoming]).toEqual([]);
  });

  it('with --force (no state read before the lock) the upload runs again once the claim made the directories', async () => {
    const saved = host;
    try {
      freshHost();
      await deploy(request({ force: true }), eventLog().sink);
      const uploads = host.calls.filter((c) => c.kind === 'upload');
      expect(uploads.map((c) => c.ok === true)).toEqual([false, true]);
      expect(uploads[1]!.upload!.releaseDir).toMatch(
        /^\/srv\/shop\/production\/releases\/\.incoming-/,
      );
      const claimed = host.calls.findIndex((c) =>
        c.commands.some((x) => x.label === 'prepare directories'),
      );
      expect(host.calls.indexOf(uploads[1]!)).toBeGreaterThan(claimed);
    } finally {
      host = saved;
    }
  });

  it('takes the lock in its first state write; the last one records the release and frees the lock', () => {
    const stateWrites = host.calls.filter((c) => c.kind === 'state' && c.wrote);
    expect(stateWrites[0]!.lockAfter).toMatch(/^[0-9a-f]{32}$/);
    expect(stateWrites.at(-1)!.lockAfter).toBeNull();
    expect(host.calls.findLast((c) => c.kind === 'state')).toBe(stateWrites.at(-1));
    const state = host.state('shop')!;
    expect(state.lock).toBeNull();
    expect(state.origin).toBe('github.com/octo/shop');
    expect(state.environments.production).toMatchObject({
      release: result.release,
      releases: [result.release],
      livePort: 3000,
      ports: [3000, 3001],
      commit: 'a'.repeat(40),
      by: 'alice',
    });
    expect(state.policy?.release).toBe(result.release);
    expect(host.registry().apps.shop?.environments.production).toMatchObject({
      ports: [3000, 3001],
      hostNames: ['shop.example.com'],
    });
  });

  it('leaves the instance running, the release current and no staging copy', () => {
    expect([...host.running]).toEqual(['toss-shop-production@3000.service']);
    expect(host.disk('shop', 'production')).toMatchObject({
      releases: new Set([result.release]),
      staging: new Set(),
    });
    expect(host.disk('shop', 'production')!.links.get('current')).toBe(result.release);
    expect(host.connections).toBe(1);
  });

  it('reports its steps in the order the deploy guarantees, the secrets before any output', () => {
    const steps = log.steps();
    const sequential = ['connect', 'lock', 'dependencies', 'names', 'prepare', 'deploy-script'];
    const live = ['start', 'health', 'route'];
    expect(
      inOrder(
        steps,
        [...sequential, ...live].flatMap((step) => [`start ${step}`, `done ${step}`]),
      ),
    ).toBe(true);
    expect(steps.indexOf('done upload')).toBeLessThan(steps.indexOf('start deploy-script'));
    expect(steps.indexOf('done names')).toBeLessThan(steps.indexOf('done upload'));
    expect(steps.slice(steps.indexOf('done route') + 1).sort()).toEqual(
      ['switch', 'prune', 'confirm'].flatMap((step) => [`done ${step}`, `start ${step}`]).sort(),
    );
    expect(steps.filter((s) => s.startsWith('fail'))).toEqual([]);
    const secrets = log.events.findIndex((e) => e.type === 'secrets');
    const output = log.events.findIndex((e) => e.type === 'output');
    expect(secrets).toBeGreaterThan(-1);
    expect(secrets).toBeLessThan(output);
    expect(log.events[secrets]).toEqual({
      type: 'secrets',
      values: expect.arrayContaining([DB_SECRET, OVERRIDE]),
    });
    expect(log.events.filter((e) => e.type === 'output')).toEqual([
      { type: 'output', step: 'deploy-script', line: 'building: npm ci' },
      { type: 'output', step: 'deploy-script', line: 'building: npm run build' },
    ]);
  });
});

describe('deploy', () => {
  it('redeploy: the upload goes alongside the lock, the idle port takes over, the old instance retires', async () => {
    const { first } = await deployedHost();
    const log = eventLog();
    const result = await deploy(request({ commit: '2'.repeat(40) }), log.sink);
    expect(result.port).toBe(3001);
    expect(result.release).not.toBe(first.release);

    // The unit template and the overrides are unchanged: neither is written again.
    const phases: Phase[] = [
      // A first upload's directory, made ready beside the state read before it says whether the
      // environment is new; then the reads under the lock.
      { any: ['prepare incoming', 'list ports', 'list releases'] },
      ['ensure users', 'prepare directories'],
      {
        any: ['write release env', 'adopt staging', 'link persistent dirs', 'open release to app'],
      },
      ['build', 'build'],
      ['seal release', 'point slot', 'port guard', 'start instance'],
      ['health check'],
      ['install site'],
      { any: ['switch current', 'retire old instance', 'site check'] },
    ];
    expect(phased(host.labels(), phases)).toEqual(phaseView(phases));

    // First the reads that compare the tree with the live release's (fingerprint.ts), a first
    // upload's directory made ready beside them; then the upload, before the lock was taken,
    // hard-linking against what is live.
    expect(host.trace().slice(0, 3)).toEqual(['prepare incoming', 'state read', 'read files']);
    expect(host.calls[3]!.kind).toBe('upload');
    expect(host.calls[3]!.ok).toBe(true);
    expect(host.calls[3]!.upload!.linkDest).toBe('/srv/shop/production/current');
    expect(host.calls.filter((c) => c.kind === 'upload')).toHaveLength(1);
    // The names were already claimed: no registry write.
    expect(host.calls.some((c) => c.kind === 'registry' && c.wrote)).toBe(false);
    expect(log.events).toContainEqual(
      expect.objectContaining({ type: 'step-done', step: 'upload', detail: 'alongside the lock' }),
    );
    expect(log.events).toContainEqual(
      expect.objectContaining({
        type: 'step-done',
        step: 'compare',
        detail: 'files changed: deploying',
      }),
    );

    for (const label of ['start instance', 'health check']) {
      expect(host.find(label)[0]!.argv.join(' '), label).toContain('@3001.service');
    }
    expect(host.find('point slot')[0]!.argv).toContain('/srv/shop/production/slots/3001');
    const retire = host.find('retire old instance')[0]!.argv;
    // The new instance linked for boot, the old one retired.
    expect(retire).toContain(
      '/etc/systemd/system/multi-user.target.wants/toss-shop-production@3001.service',
    );
    expect(retire).toContain('toss-shop-production@3000.service');
    expect(host.files.get(SITE_FILE)).toContain('reverse_proxy 127.0.0.1:3001');

    const production = host.state('shop')!.environments.production!;
    expect(production).toMatchObject({
      release: result.release,
      previousRelease: first.release,
      livePort: 3001,
      commit: '2'.repeat(40),
    });
    expect(production.releases).toEqual([first.release, result.release].sort());
    expect([...host.running]).toEqual(['toss-shop-production@3001.service']);
    expect(host.lockHolder('shop')).toBeNull();
  });

  it("a preview's first deploy refused under the lock (the memory kept for production) leaves no upload behind", async () => {
    await deployedHost();
    // 64 MiB available on a 4 GiB server: no room for a new preview.
    host.on('memory', { stdout: 'meminfo MemTotal 4194304\nmeminfo MemAvailable 65536\n' });
    const error = await deploy(request({ environment: 'pr-9' }), eventLog().sink).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(error)).toMatch(/memory/i);
    // It was uploaded alongside the lock, into a directory of its own, which went again.
    expect(host.calls.filter((c) => c.kind === 'upload').map((c) => c.ok)).toEqual([true]);
    expect([...host.incoming]).toEqual([]);
    expect(host.labels()).toContain('remove incoming');
    expect(host.disk('shop', 'pr-9')).toBeUndefined();
    expect(host.lockHolder('shop')).toBeNull();
  });

  it("a preview's first upload links from production's live release, confined to /srv; production's first links from nothing", async () => {
    const { first } = await deployedHost();
    const firstUpload = (c: (typeof host.calls)[number]) => c.kind === 'upload';
    await deploy(request({ environment: 'pr-9' }), eventLog().sink);
    const [early] = host.calls.filter(firstUpload);
    expect(early!.ok).toBe(true);
    expect(early!.upload!.releaseDir).toMatch(/^\/srv\/\.toss-incoming\/shop\.pr-9\./);
    expect(early!.upload!.linkDest).toBe(`/srv/shop/production/releases/${first.release}`);
    expect(early!.upload!.confineTo).toBe('/srv');
    // Its redeploy links from its own live release, confined to its own releases.
    host.reset();
    const pr = await deploy(
      request({ environment: 'pr-9', commit: '9'.repeat(40) }),
      eventLog().sink,
    );
    const [again] = host.calls.filter(firstUpload);
    expect(again!.upload!.linkDest).toBe('/srv/shop/pr-9/current');
    expect(again!.upload!.confineTo).toBe('/srv/shop/pr-9/releases');
    expect(pr.release).toMatch(RELEASE_ID);
    // --force reads no state before the lock: the upload under the lock links from production.
    host.reset();
    await deploy(request({ environment: 'pr-10', force: true }), eventLog().sink);
    const forced = host.calls.filter(firstUpload);
    expect(forced.map((c) => c.ok === true)).toEqual([false, true]);
    expect(forced[1]!.upload!.linkDest).toBe(`/srv/shop/production/releases/${first.release}`);
    expect(forced[1]!.upload!.confineTo).toBe('/srv');
  });

  it('a failed build: nothing starts or is routed, the release and its copy go, the lock is released', async () => {
    const { first, site } = await deployedHost();
    const live = liveView();
    host.on((c) => c.label === 'build' && c.argv.includes('npm run build'), {
      code: 2,
      stdout: 'npm ERR! missing script: build\n',
    });
    const log = eventLog();

    const error = await failure(deploy(request(), log.sink));
    expect(error.step).toBe('deploy-script');
    expect(error.message).toContain('deployScript[1] `npm run build` failed (exit 2)');
    expect(error.message).toContain('nothing live was touched');
    expect(error.message).toContain('npm ERR! missing script: build');

    // After the failed command: whether systemd works, then the cleanup, and nothing else.
    expect(host.labelsAfter('build')).toEqual([
      'systemd state',
      'remove releases',
      'remove staging',
    ]);
    expect(host.find('build')).toHaveLength(2);
    const cleanup = host.calls.find((c) => c.kind === 'cleanup')!;
    const release = host.find('adopt staging')[0]!.argv.at(-1)!;
    expect(cleanup.commands[0]!.argv).toContain(release);
    for (const label of ['seal release', 'start instance', 'install site', 'switch current']) {
      expect(host.find(label), label).toEqual([]);
    }

    expect(host.disk('shop', 'production')!.releases).toEqual(new Set([first.release]));
    expect(host.disk('shop', 'production')!.staging).toEqual(new Set());
    expect(liveView()).toEqual(live);
    expect(host.files.get(SITE_FILE)).toBe(site);
    expect(host.lockHolder('shop')).toBeNull();
    expect(log.steps()).toContain('fail deploy-script');
    expect(log.steps()).not.toContain('start start');
  });

  it('a failed health check: the new instance stops, never routed; the live site is untouched', async () => {
    const { site } = await deployedHost();
    const live = liveView();
    host.failHealthCheck();
    const log = eventLog();

    const error = await failure(deploy(request(), log.sink));
    expect(error.step).toBe('health');
    expect(error.message).toContain(
      'the new release did not pass its health check; it never received traffic',
    );
    expect(error.message).toContain('nothing accepted a connection on 127.0.0.1:3001');
    // The instance's journal is quoted.
    expect(error.message).toContain('app: listening');

    expect(host.labelsAfter('health check')).toEqual([
      'journal',
      'stop instance',
      'remove releases',
      'remove staging',
    ]);
    expect(host.find('stop instance')[0]!.argv).toContain('toss-shop-production@3001.service');
    expect(host.find('journal')[0]!.argv.join(' ')).toContain('@3001.service');
    for (const label of ['install site', 'switch current', 'retire old instance']) {
      expect(host.find(label), label).toEqual([]);
    }
    expect(liveView()).toEqual(live);
    expect(host.files.get(SITE_FILE)).toBe(site);
    expect(log.steps()).toContain('fail health');
    expect(log.steps()).not.toContain('start route');
  });

  it('a lock lost before the start: no guarded command runs any more, LockError', async () => {
    await deployedHost();
    host.breakLockBefore('seal release', 'shop', { by: 'mallory' });
    const log = eventLog();

    const error = await failure(deploy(request(), log.sink));
    expect(error.step).toBe('start');
    expect(error.cause).toBeInstanceOf(LockError);
    expect(error.message).toContain('this run no longer holds the lock');

    // The start's batch and the cleanup (which would stop what the start began) were refused:
    // nothing ran after the build.
    expect(host.labelsAfter('build')).toEqual([]);
    const refused = host.calls.filter((c) => c.refused);
    expect(refused.map((c) => [c.kind, c.commands.map((x) => x.label)])).toEqual([
      ['batch', ['seal release', 'point slot', 'port guard', 'start instance']],
      ['cleanup', ['stop instance', 'remove releases', 'remove staging']],
    ]);
    // The new holder's lock stays; the old release keeps serving.
    expect(host.lockHolder('shop')?.by).toBe('mallory');
    expect([...host.running]).toEqual(['toss-shop-production@3000.service']);
    expect(host.files.get(SITE_FILE)).toContain('reverse_proxy 127.0.0.1:3000');
  });

  it('Caddy refuses the site: the error says why, nothing switches, the new instance stops', async () => {
    const { site } = await deployedHost();
    const live = liveView();
    host.refuseCaddy();
    const log = eventLog();

    const error = await failure(deploy(request(), log.sink));
    expect(error.step).toBe('route');
    expect(error.message).toContain('Caddy rejected the configuration');
    expect(error.message).toContain('unrecognized directive: reverse_prox');
    expect(error.message).toContain('Caddy keeps serving the old config');

    expect(host.labelsAfter('install site')).toEqual([
      'stop instance',
      'remove releases',
      'remove staging',
    ]);
    expect(host.find('stop instance')[0]!.argv).toContain('toss-shop-production@3001.service');
    expect(host.find('switch current')).toEqual([]);
    expect(host.find('retire old instance')).toEqual([]);
    expect(liveView()).toEqual(live);
    expect(host.files.get(SITE_FILE)).toBe(site);
    expect(log.steps()).toContain('fail route');
  });
});

describe('a deploy that changes nothing', () => {
  it('the same tree, config and variables again: unchanged, still live; nothing written, no lock', async () => {
    const { first, site } = await deployedHost();
    const log = eventLog();
    const result = await deploy(request({ commit: '1'.repeat(40) }), log.sink);
    expect(result).toMatchObject({
      unchanged: true,
      release: first.release,
      port: first.port,
      url: first.url,
    });
    // Reads only: state and files, then the live release's links and its health check. Beside
    // the reads, before they tell, the directory a new environment's upload would go to is made
    // ready (INCOMING_DIR, nothing of any environment's).
    expect(host.trace()).toEqual([
      'prepare incoming',
      'state read',
      'read files',
      'list releases',
      'health check',
    ]);
    expect(host.calls.some((c) => c.wrote)).toBe(false);
    expect(host.lockHolder('shop')).toBeNull();
    expect(host.files.get(SITE_FILE)).toBe(site);
    expect(host.state('shop')!.environments.production!.release).toBe(first.release);
    expect(log.steps()).toEqual(['start connect', 'done connect', 'start compare', 'done compare']);
    expect(log.events).toContainEqual(
      expect.objectContaining({
        step: 'compare',
        detail: `unchanged since release ${first.release}, still live`,
      }),
    );
  });

  it('--force deploys anyway, and records the same fingerprint again', async () => {
    const { first } = await deployedHost();
    const before = host.state('shop')!.environments.production!.fingerprint;
    const log = eventLog();
    const result = await deploy(request({ commit: '1'.repeat(40), force: true }), log.sink);
    expect(result.unchanged).toBeUndefined();
    expect(result.release).not.toBe(first.release);
    expect(result.port).toBe(3001);
    expect(log.steps()).not.toContain('start compare');
    expect(before).toMatch(/^v1 files:[0-9a-f]{32} config:[0-9a-f]{32} variables:[0-9a-f]{32}$/);
    expect(host.state('shop')!.environments.production!.fingerprint).toBe(before);
  });

  it('a changed override, toss.json or secret is a change; the step says which', async () => {
    const cases: Array<[string, (r: DeployRequest) => DeployRequest, string]> = [
      ['override', (r) => ({ ...r, overrides: ['API_KEY=another'] }), 'variables changed'],
      [
        'toss.json',
        (r) => ({ ...r, config: { ...r.config, startCommand: 'node other.js' } }),
        'toss.json changed',
      ],
      [
        'secret',
        (r) => {
          host.files.set(SECRETS_FILE, 'DB_PASSWORD=rotated\n');
          return r;
        },
        'variables changed',
      ],
    ];
    for (const [, change, said] of cases) {
      const { first } = await deployedHost();
      const log = eventLog();
      const result = await deploy(change(request({ commit: '1'.repeat(40) })), log.sink);
      expect(result.unchanged).toBeUndefined();
      expect(result.release).not.toBe(first.release);
      expect(log.events).toContainEqual(
        expect.objectContaining({ step: 'compare', detail: `${said}: deploying` }),
      );
      host.reset();
    }
  });

  it('a live instance that does not answer is redeployed, not reported live', async () => {
    const { first } = await deployedHost();
    host.running.clear();
    const log = eventLog();
    const result = await deploy(request({ commit: '1'.repeat(40) }), log.sink);
    expect(result.unchanged).toBeUndefined();
    expect(result.release).not.toBe(first.release);
    expect(log.events).toContainEqual(
      expect.objectContaining({
        step: 'compare',
        detail: 'unchanged, but it did not pass its health check: deploying',
      }),
    );
  });
});

describe('build where toss runs', () => {
  /** A builder that records each command, its directory and environment, and answers `status`. */
  function recordingBuilder(status: (command: string) => number) {
    const ran: Array<{ command: string; cwd: string; env: Record<string, string> }> = [];
    const builder: LocalBuilder = {
      run: async (command, { cwd, env, onLine }) => {
        ran.push({ command, cwd, env });
        onLine(`output of ${command}`);
        return status(command);
      },
    };
    return { ran, builder };
  }

  it('runs before the lock with TOSS_* set and none of the inputs; the tree goes up as built', async () => {
    freshHost();
    const { ran, builder } = recordingBuilder(() => 0);
    process.env.INPUT_SSH_KEY = 'private key text';
    const config = { ...testConfig(), build: ['npm ci', 'npm run build'] };
    try {
      const log = eventLog();
      await deploy(request({ config, builder, environment: 'pr-4' }), log.sink);
      expect(ran.map((r) => r.command)).toEqual(['npm ci', 'npm run build']);
      expect(ran[0]!.cwd).toBe(SOURCE);
      expect(ran[0]!.env).toMatchObject({
        TOSS_ENV: 'pr-4',
        TOSS_APP: 'shop',
        TOSS_COMMIT: 'a'.repeat(40),
      });
      expect(ran[0]!.env.TOSS_URL).toMatch(/^https:\/\/pr-4\.[^/]+\/$/);
      expect(ran[0]!.env.INPUT_SSH_KEY).toBeUndefined();
      expect(log.steps().indexOf('done build')).toBeLessThan(log.steps().indexOf('start lock'));
      const uploads = host.calls.filter((c) => c.kind === 'upload');
      expect(uploads.length).toBeGreaterThan(0);
      for (const upload of uploads) expect(upload.upload?.built).toBe(true);
    } finally {
      delete process.env.INPUT_SSH_KEY;
    }
  });

  it('a failing build: the lock is never taken, nothing is uploaded, the connection is closed', async () => {
    await deployedHost();
    const live = liveView();
    const stateBefore = JSON.stringify(host.state('shop'));
    const connections = host.connections;
    const { ran, builder } = recordingBuilder((command) => (command === 'npm run build' ? 2 : 0));
    const config = { ...testConfig(), build: ['npm ci', 'npm run build', 'never'] };
    const log = eventLog();
    const error = await failure(deploy(request({ config, builder }), log.sink));
    expect(error.step).toBe('build');
    expect(error.message).toContain('build[1] `npm run build` exited with 2');
    expect(error.message).toContain('output of npm run build');
    expect(ran.map((r) => r.command)).toEqual(['npm ci', 'npm run build']);
    expect(host.calls).toEqual([]);
    // The connection opened while the build ran, used for nothing, and closed (afterEach).
    expect(host.connections).toBe(connections + 1);
    expect(JSON.stringify(host.state('shop'))).toBe(stateBefore);
    expect(liveView()).toEqual(live);
    expect(log.steps()).not.toContain('start lock');
  });

  it('native code for another machine, found while the upload still runs: the upload stops first, no staging copy is left', async () => {
    await deployedHost();
    const live = liveView();
    // The build leaves an ELF executable for aarch64; the server is x86_64.
    const elf = Buffer.alloc(64);
    elf.write('\x7fELF', 0, 'latin1');
    Object.assign(elf, { 4: 2, 5: 1, 6: 1, 16: 2, 18: 183, 20: 1 });
    const builder: LocalBuilder = {
      run: async () => {
        mkdirSync(join(SOURCE, 'bin'), { recursive: true });
        writeFileSync(join(SOURCE, 'bin/tool'), elf, { mode: 0o755 });
        return 0;
      },
    };
    // rsync is slow to get going here: it is still running when the platform check fails.
    const settled: string[] = [];
    const slowUpload: OpenServer = async (login, app) => {
      const server = await host.connect(login, app);
      const upload = server.upload.bind(server);
      server.upload = async (params) => {
        await new Promise((resolve) => setTimeout(resolve, 150));
        try {
          await upload(params);
          settled.push('uploaded');
        } catch (error) {
          settled.push('stopped');
          throw error;
        }
      };
      return server;
    };
    const config = { ...testConfig(), build: ['make tool'] };
    try {
      const error = await failure(
        deploy(request({ config, builder, connect: slowUpload }), eventLog().sink),
      );
      expect(error.step).toBe('platform');
      expect(error.message).toContain('bin/tool is built for aarch64; the server is x86_64');
      // Stopped before the cleanup ran, so nothing made the staging directory again after it.
      expect(settled).toEqual(['stopped']);
      expect([...(host.disk('shop', 'production')?.staging ?? [])]).toEqual([]);
      expect(liveView()).toEqual(live);
    } finally {
      rmSync(join(SOURCE, 'bin'), { recursive: true, force: true });
    }
  });

  it('a connection that failed while the build ran is tried again once the build is done', async () => {
    freshHost();
    const { builder } = recordingBuilder(() => 0);
    const config = { ...testConfig(), build: ['npm run build'] };
    let attempts = 0;
    const flaky: OpenServer = (login, app) => {
      attempts++;
      return attempts === 1
        ? Promise.reject(new Error('connect ECONNRESET'))
        : host.connect(login, app);
    };
    const result = await deploy(request({ config, builder, connect: flaky }), eventLog().sink);
    expect(attempts).toBe(2);
    expect(result.environment).toBe('production');
    expect(host.connections).toBe(1);
  });
});
