/**
 * A preview's toss.json cannot put Caddyfile syntax or a CPU sink into
 * previewAuth. A keyword user (`import`, which made Caddy import a file the build wrote), a
 * path-shaped hash and a cost-31 hash are each refused before toss connects, with one line naming
 * the field; the server is byte for byte as before (no login, no release, no site, state and
 * registry unchanged). A hash made by the host's own `caddy hash-password` still deploys a preview
 * behind basic auth, through the same path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

const APP = 'authy';
let host: TestHost;
let app: AppCheckout;
let caddyHash: string;

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, { app: APP });
  const prod = await toss(host, ['deploy', 'production'], { cwd: app.dir });
  expect(prod.code, prod.output).toBe(0);
  caddyHash = (await inHost(host, ['caddy', 'hash-password', '--plaintext', 'team-secret'])).trim();
}, 180_000);
afterAll(async () => {
  await host?.shutdown();
});

/** Everything a refused deploy must leave as it was. */
async function serverSnapshot() {
  const sh = (script: string) => inHost(host, ['sh', '-c', script]);
  return {
    state: await sh(`cat /srv/${APP}/.toss/state.json`),
    registry: await sh('cat /var/lib/toss/registry.json'),
    caddyfile: await sh('cat /etc/caddy/Caddyfile'),
    sites: await sh('ls -la --time-style=full-iso /etc/caddy/toss'),
    units: await sh('ls -1 /etc/systemd/system | grep ^toss- || true'),
    appDirs: await sh(`ls -1 /srv/${APP}`),
    running: await sh("systemctl list-units --no-legend --plain 'toss-*' | cut -d ' ' -f 1"),
    shm: await sh('ls -1A /dev/shm'),
  };
}

const COST_14 = '$2a$14$IjHTgaFGL865/vAW5IC6H.APHrPDltaJAIQ53tFi33ws0AOJuSemG';

describe('previewAuth from a preview’s toss.json', () => {
  it.each([
    ['a Caddyfile keyword as user', { user: 'import', passwordHash: COST_14 }, 'previewAuth.user'],
    [
      'a path-shaped hash',
      { user: 'team', passwordHash: `$2a$10$/../../../../dev/shm/toss/${'x'.repeat(27)}` },
      'previewAuth.passwordHash',
    ],
    [
      'a cost-31 hash',
      { user: 'team', passwordHash: COST_14.replace('$14$', '$31$') },
      'previewAuth.passwordHash',
    ],
  ])(
    '%s: refused before connecting, naming the field; the server unchanged',
    async (_label, auth, field) => {
      const before = await serverSnapshot();
      const logins = await sshLogins(host);
      app.configure({ previewAuth: auth });
      try {
        const run = await toss(host, ['deploy', 'pr-1'], { cwd: app.dir });
        expect(run.code, run.output).not.toBe(0);
        const lines = run.stderr.split('\n').filter((l) => l.includes('toss.json: '));
        expect(lines, run.stderr).toHaveLength(1);
        expect(lines[0]).toContain(`toss.json: ${field}: expected `);
        // The hash is never echoed (a pasted password would be).
        if (field === 'previewAuth.passwordHash')
          expect(run.stderr).not.toContain(auth.passwordHash);
        expect(await sshLogins(host)).toBe(logins);
        expect(await serverSnapshot()).toEqual(before);
        expect((await host.exec(['test', '-e', `/srv/${APP}/pr-1`])).code).not.toBe(0);
        expect(
          (await host.exec(['test', '-e', `/etc/caddy/toss/${APP}-pr-1.caddy`])).code,
        ).not.toBe(0);
      } finally {
        app.configure({ previewAuth: undefined });
      }
    },
  );

  it('the hash `caddy hash-password` makes deploys the preview behind basic auth', async () => {
    expect(caddyHash).toMatch(/^\$2a\$14\$/);
    app.configure({ previewAuth: { user: 'team', passwordHash: caddyHash } });
    try {
      // previewAuth is policy: previews get what production's deploy recorded.
      const recorded = await toss(host, ['deploy', 'production'], { cwd: app.dir });
      expect(recorded.code, recorded.output).toBe(0);
      const run = await toss(host, ['deploy', 'pr-1'], { cwd: app.dir });
      expect(run.code, run.output).toBe(0);
      const name = sslipName(host, APP, 'pr-1');
      expect((await fetchSite(host, name)).status).toBe(401);
      const auth = `Basic ${Buffer.from('team:team-secret').toString('base64')}`;
      expect(await fetchSite(host, name, '/', { auth })).toEqual({
        status: 200,
        body: 'Hello from toss!\n',
      });
      expect(await inHost(host, ['cat', `/etc/caddy/toss/${APP}-pr-1.caddy`])).toContain(
        `\tbasicauth {\n\t\tteam ${caddyHash}\n\t}\n`,
      );
    } finally {
      app.configure({ previewAuth: undefined });
    }
  });
});
