/**
 * A bad server: systemd unusable, Caddy missing (no Caddyfile; no caddy binary), a
 * full disk under the environment's releases, a Caddyfile the user broke by hand. Each deploy
 * ends in a clear error naming the cause while a 50 ms probe sees the live release serve on,
 * unchanged; once the fault is gone the next deploy converges.
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
  toss,
} from './support/app.js';
import { readStateOn, reportRow } from './support/reliability.js';

const APP = 'badsrv';
const RELEASES = `/srv/${APP}/production/releases`;
let host: TestHost;
let app: AppCheckout;
let n = 0;
const prod = () => sslipName(host, APP, 'production');
const rows: Array<{ scenario: string; runs: number; survived: number; lost: number }> = [];

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, { app: APP, healthCheck: { path: '/up', timeout: 10 } });
  const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
});
afterAll(async () => {
  for (const row of rows) reportRow(row);
  await host?.shutdown();
});

const sh = async (script: string): Promise<void> => {
  await inHost(host, ['sh', '-ec', script]);
};

async function faultyDeploy(
  scenario: string,
  fault: { plant: () => Promise<void>; restore: () => Promise<void> },
  cause: RegExp,
) {
  const row = { scenario, runs: 1, survived: 0, lost: 1 };
  rows.push(row);
  const live = await fetchSite(host, prod());
  expect(live.status).toBe(200);
  const stateBefore = await readStateOn(host, APP);
  const currentBefore = await inHost(host, ['readlink', `/srv/${APP}/production/current`]);
  await app.commit('message.txt', `must not ship ${++n}\n`);
  await fault.plant();
  let run: Awaited<ReturnType<typeof toss>>;
  let probed: Awaited<ReturnType<ReturnType<typeof startProbe>['stop']>>;
  try {
    const probe = startProbe(host, prod());
    run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
    await new Promise((r) => setTimeout(r, 1000));
    probed = await probe.stop();
  } finally {
    await fault.restore();
  }
  console.log(
    `RELIABILITY | ${scenario}: ${run.stderr.trim().split('\n').slice(0, 3).join(' / ')}`,
  );
  expect(run.code, run.output).toBe(1);
  expect(run.stderr, run.output).toMatch(cause);
  expect(probed.failed, probed.failures.slice(0, 5).join('\n')).toBe(0);
  expect([...probed.bodies]).toEqual([live.body]);
  expect(await fetchSite(host, prod())).toEqual(live);
  const stateAfter = await readStateOn(host, APP);
  expect(stateAfter.lock).toBeNull();
  expect(stateAfter.environments.production?.release).toBe(
    stateBefore.environments.production?.release,
  );
  expect(await inHost(host, ['readlink', `/srv/${APP}/production/current`])).toBe(currentBefore);

  // The fault is gone: a plain re-run converges.
  const next = await toss(host, ['deploy', 'production'], { cwd: app.dir });
  expect(next.code, next.output).toBe(0);
  expect((await fetchSite(host, prod())).body).toBe(`must not ship ${n}\n`);
  row.survived = 1;
  row.lost = 0;
}

describe('a bad server ends in a clear error, the live release untouched', () => {
  it('systemd unusable (systemctl and systemd-run replaced by /bin/false)', async () => {
    await faultyDeploy(
      'server without usable systemd',
      {
        plant: () =>
          sh(
            'mount --bind /bin/false /usr/bin/systemctl; mount --bind /bin/false /usr/bin/systemd-run',
          ),
        restore: () => sh('umount /usr/bin/systemd-run || true; umount /usr/bin/systemctl || true'),
      },
      /systemd is not usable on the server/,
    );
  });

  it('Caddy missing: no /etc/caddy/Caddyfile', async () => {
    await faultyDeploy(
      'server without Caddyfile',
      {
        plant: () => sh('mv /etc/caddy/Caddyfile /etc/caddy/Caddyfile.away'),
        restore: () => sh('mv /etc/caddy/Caddyfile.away /etc/caddy/Caddyfile'),
      },
      /Caddyfile does not exist: Caddy is not installed/,
    );
  });

  it('a broken caddy binary under a running Caddy: the deploy loads through its admin socket', async () => {
    // The running Caddy loads the Caddyfile posted to its socket itself (caddy-apply.ts): no
    // caddy process is started, so a deploy goes through. Were it reloaded through systemctl
    // (ExecReload runs the binary), this deploy would fail.
    await app.commit('message.txt', 'loaded by the running Caddy\n');
    await sh('mount --bind /bin/false /usr/bin/caddy');
    let run: Awaited<ReturnType<typeof toss>>;
    try {
      run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
    } finally {
      await sh('umount /usr/bin/caddy');
    }
    expect(run.code, run.output).toBe(0);
    expect((await fetchSite(host, prod())).body).toBe('loaded by the running Caddy\n');
  });

  it('Caddy missing: no caddy binary, and a Caddyfile only a reload through systemctl reads', async () => {
    // A relative import (matching nothing) is read relative to the Caddyfile, which a posted
    // Caddyfile has not: such a Caddyfile goes the systemctl way, whose ExecReload is the binary.
    await faultyDeploy(
      'server without caddy binary',
      {
        plant: () =>
          sh(
            'cp -a /etc/caddy/Caddyfile /root/Caddyfile.good && printf "\\nimport snippets/none-*\\n" >> /etc/caddy/Caddyfile && mount --bind /bin/false /usr/bin/caddy',
          ),
        restore: () => sh('umount /usr/bin/caddy; cp -a /root/Caddyfile.good /etc/caddy/Caddyfile'),
      },
      /Caddy rejected the configuration \(`caddy validate --config \/etc\/caddy\/Caddyfile` failed without saying why; is the caddy binary working\?\)/,
    );
  });

  it('full disk under the environment (1M tmpfs over releases/)', async () => {
    await faultyDeploy(
      'full disk in the environment directory',
      {
        plant: () =>
          sh(`rm -rf /root/releases.copy && cp -a ${RELEASES} /root/releases.copy
mount -t tmpfs -o size=1M,mode=0755 tmpfs ${RELEASES}
cp -a /root/releases.copy/. ${RELEASES}/
dd if=/dev/zero of=${RELEASES}/.fill bs=4k 2>/dev/null || true`),
        restore: () => sh(`umount ${RELEASES}`),
      },
      /Upload files failed: the server.s disk is full: \d+ KiB left for \/srv\/badsrv\/production\/releases; /,
    );
  });

  it('a Caddyfile the user broke by hand', async () => {
    await faultyDeploy(
      'Caddyfile broken by hand',
      {
        plant: () =>
          sh(
            'cp -a /etc/caddy/Caddyfile /root/Caddyfile.good && printf "\\nbroken {\\n" >> /etc/caddy/Caddyfile',
          ),
        restore: () => sh('cp -a /root/Caddyfile.good /etc/caddy/Caddyfile'),
      },
      /Caddy rejected the configuration[\s\S]*\/etc\/caddy\/Caddyfile:\d+/,
    );
    // The site file was restored, Caddy still runs with the previous config.
    expect((await inHost(host, ['systemctl', 'is-active', 'caddy'])).trim()).toBe('active');
  });
});
