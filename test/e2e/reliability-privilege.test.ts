/**
 * Least privilege on a real server: the app runs as an unprivileged user (production
 * and previews as different ones), its unit is hardened, `systemd-analyze security` rates it at
 * most 4.0, and a preview's process — asked over HTTPS through a test route of its own — cannot
 * read production's env file, secrets or data.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, fetchSite, inHost, makeApp, sslipName, toss } from './support/app.js';
import { addTestRoutes, readStateOn, reportRow } from './support/reliability.js';

const APP = 'privy';
let host: TestHost;
let app: AppCheckout;
let prodUnit: string;
let previewUnit: string;

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, { app: APP });
  addTestRoutes(app.dir);
  await app.commit('message.txt', 'privileged?\n');
  writeFileSync(join(app.dir, '..', `${APP}-secrets.env`), 'PROD_SECRET=top-secret\n');
  const pushed = await toss(
    host,
    ['secrets', 'push', 'production', '--file', join(app.dir, '..', `${APP}-secrets.env`)],
    { cwd: app.dir },
  );
  expect(pushed.code, pushed.output).toBe(0);
  for (const env of ['production', 'pr-5']) {
    const run = await toss(
      host,
      ['deploy', env, '-s', `ONLY_${env === 'production' ? 'PROD' : 'PREVIEW'}=s3cr3t-${env}`],
      {
        cwd: app.dir,
      },
    );
    expect(run.code, run.output).toBe(0);
  }
  const state = await readStateOn(host, APP);
  prodUnit = `toss-${APP}-production@${state.environments.production!.livePort}.service`;
  previewUnit = `toss-${APP}-pr-5@${state.environments['pr-5']!.livePort}.service`;
});
afterAll(async () => {
  await host?.shutdown();
});

const show = async (unit: string, property: string) =>
  (await inHost(host, ['systemctl', 'show', unit, '-p', property, '--value'])).trim();

/** What the preview's own process gets when it tries to read `path`. */
const readFromPreview = async (path: string) =>
  (await fetchSite(host, sslipName(host, APP, 'pr-5'), `/read?path=${encodeURIComponent(path)}`))
    .body;

describe('least privilege on the server', () => {
  it('runs production and previews as different unprivileged users, never root', async () => {
    const users: string[] = [];
    for (const unit of [prodUnit, previewUnit]) {
      expect(await show(unit, 'ActiveState')).toBe('active');
      const user = await show(unit, 'User');
      expect(user).not.toBe('');
      expect(user).not.toBe('root');
      const pid = await show(unit, 'MainPID');
      // Every process of the unit, not just the main one, runs as that user.
      const procs = await inHost(host, [
        'sh',
        '-c',
        `systemctl show -p ControlGroup --value ${unit} | xargs -I{} cat /sys/fs/cgroup/unified{}/cgroup.procs /sys/fs/cgroup{}/cgroup.procs 2>/dev/null | sort -u`,
      ]);
      const pids = [pid, ...procs.split('\n').filter(Boolean)];
      for (const p of new Set(pids)) {
        const uid = (await inHost(host, ['ps', '-o', 'uid=', '-p', p])).trim();
        expect(Number(uid), `pid ${p} of ${unit}`).toBeGreaterThan(0);
      }
      const shell = (await inHost(host, ['getent', 'passwd', user])).trim().split(':');
      expect(Number(shell[2])).toBeGreaterThan(0);
      users.push(user);
    }
    expect(users[0]).not.toBe(users[1]);
  });

  it('hardens the unit (NoNewPrivileges, ProtectSystem=strict with only its dirs writable, …)', async () => {
    for (const unit of [prodUnit, previewUnit]) {
      expect(await show(unit, 'NoNewPrivileges')).toBe('yes');
      expect(await show(unit, 'ProtectSystem')).toBe('strict');
      expect(await show(unit, 'PrivateTmp')).toBe('yes');
      expect(await show(unit, 'ProtectHome')).toBe('yes');
      expect(await show(unit, 'PrivateDevices')).toBe('yes');
      expect(await show(unit, 'RestrictSUIDSGID')).toBe('yes');
      expect(await show(unit, 'CapabilityBoundingSet')).toBe('');
      const env = unit.includes('-production@') ? 'production' : 'pr-5';
      const writable = (await show(unit, 'ReadWritePaths')).split(/\s+/).filter(Boolean);
      // Its own release (through its port's slot), its persistent dirs and its cache.
      const port = unit.replace(/^.*@(\d+)\.service$/, '$1');
      expect(writable.sort()).toEqual([
        `/srv/${APP}/${env}/cache`,
        `/srv/${APP}/${env}/preserve`,
        `/srv/${APP}/${env}/slots/${port}`,
      ]);
    }
  });

  it('rates at most 4.0 on systemd-analyze security', async () => {
    for (const unit of [prodUnit, previewUnit]) {
      const result = await host.exec(['systemd-analyze', 'security', '--no-pager', unit]);
      const match = /Overall exposure level for \S+: (\d+\.\d+)/.exec(result.stdout);
      expect(match, result.stdout + result.stderr).not.toBeNull();
      const exposure = Number(match![1]);
      console.log(`RELIABILITY | systemd-analyze security ${unit}: exposure ${exposure}`);
      expect(exposure).toBeLessThanOrEqual(4.0);
    }
  });

  it("a preview's process cannot read production's env file, secrets or data", async () => {
    const state = await readStateOn(host, APP);
    const prodRelease = state.environments.production!.release;
    const previewRelease = state.environments['pr-5']!.release;
    // The route works: the preview reads a file of its own release.
    expect(await readFromPreview(`/srv/${APP}/pr-5/releases/${previewRelease}/server.js`)).toMatch(
      /^OK \d+$/,
    );
    const forbidden = [
      `/srv/${APP}/production/env/${prodRelease}.env`,
      `/srv/${APP}/production/env/slot-${state.environments.production!.livePort}.env`,
      `/srv/${APP}/.toss/secrets/overrides/production.env`,
      `/srv/${APP}/.toss/secrets/production.env`,
      `/srv/${APP}/.toss/state.json`,
      `/srv/${APP}/production/preserve/data/boots.log`,
      // …nor its own env file: systemd read it as root.
      `/srv/${APP}/pr-5/env/${previewRelease}.env`,
    ];
    const results: string[] = [];
    for (const path of forbidden) {
      // Each exists (root can read it), so a refusal is a refusal, not a missing file.
      expect((await host.exec(['test', '-e', path])).code, path).toBe(0);
      const answer = await readFromPreview(path);
      results.push(`${path}: ${answer}`);
      expect(answer, path).toMatch(/^(EACCES|EPERM)$/);
    }
    console.log(`RELIABILITY | preview reads:\n${results.join('\n')}`);
    // And it does not have production's secret in its environment.
    const own = await fetchSite(host, sslipName(host, APP, 'pr-5'), '/env/ONLY_PROD');
    expect(own.status).toBe(404);
    reportRow({
      scenario: "preview reads production's files",
      runs: forbidden.length,
      survived: forbidden.length,
      lost: 0,
    });
  });
});
