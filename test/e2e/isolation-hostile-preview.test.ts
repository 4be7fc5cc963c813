/**
 * A pull request's preview, as an attacker writes it, on a real host:
 *
 * - its build and app plant symlinks and hard links in preserve/, cache/ and its releases
 *   pointing at /, /etc, another user's home, production's data, and keep swapping one to
 *   /etc/shadow while the next deploy's rsync and seal run; they try to read production's env
 *   file, state and data and to signal production's process. Nothing outside the preview changes
 *   owner, mode or link count, and production serves a 50 ms probe without a failed request.
 * - its toss.json asks for unlimited resources, more previews, no previewAuth and its own
 *   domains: it gets what the last production deploy recorded.
 * - its build sleeps for 10 minutes: a production deploy started meanwhile stops it and goes
 *   through in about its usual time; left alone, the build stops at the recorded time limit.
 *
 * The build's sandbox itself (/dev/shm, namespaces, /proc) is isolation-build-sandbox.test.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, inHost, makeApp, sslipName, startProbe, toss } from './support/app.js';
import { readStateOn, startToss } from './support/reliability.js';

const APP = 'victim';
const PREVIEW_USER = `toss-${APP}_pv`;
const PRESERVE = `/srv/${APP}/pr-1/preserve`;
const HASH = '$2a$04$0YtcOm5GoXu5eRGfHpbUx.6LeixP2GQDuHBxFpmiuuHZH5vDaNMFa';
const BASHRC = 'alias ll="ls -l"\n';

let host: TestHost;
let prod: AppCheckout;
let pr: AppCheckout;
let prodSeconds = 0;

// What production's toss.json sets for previews, and what the pull request's asks for.
const POLICY = {
  previewDomain: 'preview.victim.test',
  previewAuth: { user: 'team', passwordHash: HASH },
  maxPreviews: 2,
  resources: { previews: { memory: '256M', cpu: '50%', buildTimeout: 20 } },
};
const GREEDY = {
  previewDomain: 'evil.test',
  maxPreviews: 50,
  resources: {
    memory: 'infinity',
    previews: { memory: 'infinity', cpu: '400%', buildTimeout: 86_400 },
  },
  healthCheck: { path: '/up', timeout: 600 },
};

// Everything the attack may try to change: owner, group, mode, link count and inode.
const WATCHED = [
  '/',
  '/etc',
  '/etc/shadow',
  '/etc/hostname',
  '/opt/target',
  '/opt/target/keep',
  '/home/alice',
  '/home/alice/.bashrc',
  `/srv/${APP}`,
  `/srv/${APP}/.toss`,
  `/srv/${APP}/.toss/state.json`,
  `/srv/${APP}/.toss/secrets/production.env`,
  `/srv/${APP}/production`,
  `/srv/${APP}/production/preserve`,
  `/srv/${APP}/production/preserve/data`,
  `/srv/${APP}/production/preserve/data/boots.log`,
];

async function snapshot(extra: string[] = []): Promise<string> {
  const out = await inHost(host, [
    'stat',
    '-c',
    '%n %U:%G %a links=%h inode=%i',
    ...WATCHED,
    ...extra,
  ]);
  // toss itself replaces state.json on every write (a new inode each time).
  return out.replace(/(state\.json .*) inode=\d+/, '$1');
}

// The build: plants links where root works on the next deploy, links a file of its own from a
// "package store" in cache/, tries to link /etc/shadow, read production and signal it.
const attackScript = (prodEnvFile: string, prodPid: string) => `set -u
P=${PRESERVE}
say() { echo "ATTACK $*"; }
rm -rf "$P/top" "$P/opt" "$P/state" "$P/prod"
ln -s / "$P/top"
ln -s /opt/target "$P/opt"
ln -s /etc "$P/state"
ln -s /srv/${APP}/production/preserve/data "$P/prod"
mkdir -p "$P/race"
rm -rf d s r
ln -s /home/alice d
ln -s /etc s
ln -s "$P/race" r
ln -sfn / "$HOME/root"
ln -sfn /etc/shadow "$HOME/shadow"
echo store > "$HOME/store.js"
ln -f "$HOME/store.js" store.js 2>/dev/null && say LINKED its store
ln /etc/shadow shadow-link 2>/dev/null && say LINKED /etc/shadow
for f in ${prodEnvFile} /srv/${APP}/.toss/secrets/production.env /srv/${APP}/.toss/state.json /srv/${APP}/production/preserve/data/boots.log /etc/shadow; do
  cat "$f" >/dev/null 2>&1 && say READ "$f"
done
kill -0 ${prodPid} 2>/dev/null && say SIGNALLED production
kill -TERM ${prodPid} 2>/dev/null && say KILLED production
echo "attack planted"
true
`;

// The preview's app swaps preserve/race/f between a file like the one the next upload ships in
// r/f and a link to /etc/shadow, as fast as it can, while the next deploy runs.
const RACER = `import { renameSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
const dir = '${PRESERVE}/race';
let n = 0;
setInterval(() => {
  try {
    rmSync(dir + '/tmp', { force: true });
    if (n++ % 2) symlinkSync('/etc/shadow', dir + '/tmp');
    else writeFileSync(dir + '/tmp', 'decoy\\n', { mode: 0o644 });
    renameSync(dir + '/tmp', dir + '/f');
  } catch {}
}, 1);
`;

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  await inHost(host, [
    'sh',
    '-c',
    `set -e
useradd -m alice
printf '%s' '${BASHRC}' > /home/alice/.bashrc
chown alice:alice /home/alice/.bashrc
chmod 0644 /home/alice/.bashrc
install -d -m 0755 /opt/target
echo keep > /opt/target/keep`,
  ]);
  prod = await makeApp(host, { app: APP, ...POLICY });
  // Production's secrets, as users push them: the preview must never read them.
  const secrets = join(prod.dir, '.env.production');
  writeFileSync(secrets, 'PROD_SECRET=prod-secret-value-17\n');
  const pushed = await toss(host, ['secrets', 'push', 'production', '--file', secrets], {
    cwd: prod.dir,
  });
  expect(pushed.code, pushed.output).toBe(0);
  const first = await toss(host, ['deploy', 'production'], { cwd: prod.dir });
  expect(first.code, first.output).toBe(0);
  pr = await makeApp(host, {
    app: APP,
    ...GREEDY,
    persistentDirs: ['data', 'top', 'opt', 'state', 'prod'],
    startCommand: 'node racer.mjs & exec node server.js',
    deployScript: ['node build.js', 'sh attack.sh'],
  });
  await pr.commit('racer.mjs', RACER);
}, 240_000);

afterAll(async () => {
  await host?.shutdown();
});

describe('a preview that asks for its own policy', () => {
  it("gets production's recorded limits, auth and domain, with a notice", async () => {
    const envFile = (await inHost(host, ['ls', `/srv/${APP}/production/env`]))
      .split('\n')
      .find((f) => /^\d{8}T\d{6}Z-[0-9a-f]{4}\.env$/.test(f));
    const live = (await readStateOn(host, APP)).environments.production!.livePort;
    const pid = (
      await inHost(host, [
        'systemctl',
        'show',
        '-p',
        'MainPID',
        '--value',
        `toss-${APP}-production@${live}.service`,
      ])
    ).trim();
    expect(envFile).toBeDefined();
    expect(pid).toMatch(/^[1-9]\d*$/);
    await pr.commit('attack.sh', attackScript(`/srv/${APP}/production/env/${envFile}`, pid));
    const run = await toss(host, ['deploy', 'pr-1'], { cwd: pr.dir });
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('attack planted');
    expect(run.output).toMatch(
      /pr-1 follows the policy of victim's last production deploy, not its own toss.json, for previewDomain, previewAuth, maxPreviews, resources, healthCheck/,
    );
    expect(run.output).not.toMatch(/ATTACK (LINKED|READ|SIGNALLED|KILLED)/);

    const state = await readStateOn(host, APP);
    const env = state.environments['pr-1']!;
    const unit = `toss-${APP}-pr-1@${env.livePort}.service`;
    const show = await inHost(host, [
      'systemctl',
      'show',
      '-p',
      'MemoryMax,CPUQuotaPerSecUSec',
      unit,
    ]);
    expect(show).toContain(`MemoryMax=${256 * 1024 * 1024}`);
    expect(show).toContain('CPUQuotaPerSecUSec=500ms');
    const site = await inHost(host, ['cat', `/etc/caddy/toss/${APP}-pr-1.caddy`]);
    expect(site).toContain('pr-1.preview.victim.test');
    expect(site).not.toContain('evil.test');
    expect(site).toContain(HASH);
    // `toss status` from the pull request's checkout says what previews get, not what it asks.
    const status = await toss(host, ['status', '--json'], { cwd: pr.dir });
    expect(status.code, status.output).toBe(0);
    const json = JSON.parse(status.stdout);
    expect(json.previewPolicy).toMatchObject({
      maxPreviews: 2,
      authUser: 'team',
      previewDomain: 'preview.victim.test',
      memory: '256M',
      cpu: '50%',
      buildTimeout: 20,
    });
    expect(JSON.stringify(json)).not.toContain(HASH);
    const pr1 = json.environments.find((e: { name: string }) => e.name === 'pr-1');
    expect(pr1.url).toBe('https://pr-1.preview.victim.test/');
    const text = await toss(host, ['status'], { cwd: pr.dir });
    expect(text.stdout).toMatch(
      /previews: +at most 2; under preview\.victim\.test; basic auth \(team\); memory 256M, cpu 50%, build ≤ 20 s/,
    );
    console.log(
      `ISOLATION | preview toss.json asks for infinity, 50 previews, no auth, evil.test | got ${show.trim().replace(/\n/g, ', ')}, pr-1.preview.victim.test behind basic auth`,
    );
  });
});

describe('a preview that plants links for root', () => {
  it('changes nothing outside itself; production keeps serving', async () => {
    // The next upload ships files where the planted links lead: another user's .bashrc with its
    // content and mode, /etc/hostname's, and the racer's decoy.
    const hostname = await inHost(host, ['cat', '/etc/hostname']);
    for (const dir of ['d', 's', 'r']) mkdirSync(join(pr.dir, dir), { recursive: true });
    await pr.commit('d/.bashrc', BASHRC);
    await pr.commit('s/hostname', hostname);
    await pr.commit('r/f', 'decoy\n');
    const before = await snapshot();
    const cacheStore = `/srv/${APP}/pr-1/cache/store.js`;
    const storeBefore = await inHost(host, ['stat', '-c', '%U %a', cacheStore]);
    expect(storeBefore).toMatch(new RegExp(`^${PREVIEW_USER} `));

    const probe = startProbe(host, sslipName(host, APP, 'production'));
    const again = await toss(host, ['deploy', 'pr-1'], { cwd: pr.dir });
    await prod.commit('message.txt', 'production v2\n');
    const started = performance.now();
    const prodRun = await toss(host, ['deploy', 'production'], { cwd: prod.dir });
    prodSeconds = (performance.now() - started) / 1000;
    const result = await probe.stop();

    expect(again.code, again.output).toBe(0);
    expect(again.output).not.toMatch(/ATTACK (LINKED|READ|SIGNALLED|KILLED)/);
    expect(again.output).not.toContain('prod-secret-value-17');
    expect(prodRun.code, prodRun.output).toBe(0);
    expect(result.failed, result.failures.join('\n')).toBe(0);
    expect(result.ok).toBeGreaterThan(0);
    expect(await snapshot()).toBe(before);
    // The build's own store file in cache/ is still the build's (inside the build's sandbox the
    // release and cache/ are separate mounts, so it cannot even hard-link one into the other).
    expect(again.output).not.toContain('ATTACK LINKED its store');
    expect(await inHost(host, ['stat', '-c', '%U %a', cacheStore])).toBe(storeBefore);
    const release = (await readStateOn(host, APP)).environments['pr-1']!.release;
    const dir = `/srv/${APP}/pr-1/releases/${release}`;
    // The build made d and s links again; they are links, owned by root, leading nowhere root goes.
    const links = await inHost(host, [
      'find',
      dir,
      '-maxdepth',
      '1',
      '-type',
      'l',
      '-printf',
      '%f %u\\n',
    ]);
    expect(links).toContain('d root');
    expect(links).toContain('s root');
    // Production still has its data and serves v2.
    const boots = await inHost(host, ['cat', `/srv/${APP}/production/preserve/data/boots.log`]);
    expect(boots.trim().split('\n').length).toBeGreaterThanOrEqual(2);
    console.log(
      `ISOLATION | preview plants links to /, /etc, /home/alice, production data; races /etc/shadow | owner, mode, links and inode of ${WATCHED.length} paths unchanged | probe ${result.ok} ok, ${result.failed} failed`,
    );
  });
});

describe("a preview's long build", () => {
  it('is stopped at the time limit production recorded', async () => {
    pr.configure({ deployScript: ['sleep 600'] });
    await pr.commit('message.txt', 'slow build\n');
    const started = performance.now();
    const run = await toss(host, ['deploy', 'pr-2'], { cwd: pr.dir });
    const seconds = (performance.now() - started) / 1000;
    expect(run.code, run.output).toBe(1);
    expect(run.output).toContain('reached its time limit of 20 s');
    expect(seconds).toBeLessThan(60);
    expect((await readStateOn(host, APP)).lock ?? null).toBeNull();
    console.log(
      `ISOLATION | preview build sleeps 600 s, limit 20 s | stopped after ${seconds.toFixed(1)} s in all`,
    );
  });

  it('never holds up production: a production deploy stops it and goes through', async () => {
    // Longer than the policy's 20 s would be stopped anyway: record a longer limit first.
    prod.configure({
      resources: { previews: { ...POLICY.resources.previews, buildTimeout: 900 } },
    });
    await prod.commit('message.txt', 'production v3\n');
    const recorded = await toss(host, ['deploy', 'production'], { cwd: prod.dir });
    expect(recorded.code, recorded.output).toBe(0);

    const preview = startToss(host, ['deploy', 'pr-2'], { cwd: pr.dir });
    // Wait until the build runs: its unit is active, and the lock says the preview yields.
    await preview.waitFor('Run deployScript');
    for (let i = 0; ; i++) {
      const lock = (await readStateOn(host, APP)).lock;
      const unit = await host.exec(['systemctl', 'is-active', `toss-run-${APP}-pr-2.service`]);
      if (lock?.preemptible && unit.stdout.trim() === 'active') break;
      if (i > 300) throw new Error(`the preview never started building:\n${preview.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await prod.commit('message.txt', 'production v4\n');
    const started = performance.now();
    const run = await toss(host, ['deploy', 'production'], { cwd: prod.dir });
    const seconds = (performance.now() - started) / 1000;
    const stopped = await preview.done;

    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain("stopping pr-2's build to deploy production first");
    expect(stopped.code, stopped.output).toBe(1);
    expect(stopped.output).toContain("a production deploy took the lock and stopped pr-2's build");
    // Within seconds of what a production deploy takes here without a preview in the way.
    expect(seconds).toBeLessThan(prodSeconds + 15);
    expect(
      await inHost(host, ['sh', '-c', `systemctl is-active toss-run-${APP}-pr-2.service || true`]),
    ).not.toMatch(/^active/);
    console.log(
      `ISOLATION | production deploy during a preview's 600 s build | ${seconds.toFixed(1)} s (alone: ${prodSeconds.toFixed(1)} s), build stopped`,
    );
  });

  it("counts previews against the recorded maxPreviews, not the pull request's", async () => {
    pr.configure({ deployScript: ['node build.js'] });
    await pr.commit('message.txt', 'pr-2\n');
    const second = await toss(host, ['deploy', 'pr-2'], { cwd: pr.dir });
    expect(second.code, second.output).toBe(0);
    const third = await toss(host, ['deploy', 'pr-3'], { cwd: pr.dir });
    expect(third.code, third.output).toBe(1);
    expect(third.output).toContain('maxPreviews is 2');
  });
});
