/**
 * Caddy answers only to root. A hostile preview (its running process, as the preview
 * user, and its deployScript) tries what worked against Debian's Caddy on localhost:2019: read
 * the config, re-point production's host name at the preview, load it back. On a server set up
 * before toss moved the admin endpoint, that works; its next deploy moves the endpoint to a Unix
 * socket only root and caddy can open (a graceful reload, no restart) and every attempt after fails.
 * Then Caddy changes that cannot be applied: a reload that hangs (Caddy frozen) and a config the
 * caddy user cannot read. Each deploy fails in bounded time naming the reason, Caddy serves
 * every other site, no lock is left, and Caddy restarts cleanly.
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

const APP = 'cadmin';
const PREVIEW_USER = `toss-${APP}_pv`;
const SOCKET = '/run/caddy/admin.sock';
const DROPIN = '/etc/systemd/system/caddy.service.d/toss-admin.conf';
let host: TestHost;
let app: AppCheckout;
let attacks = 0;
const prod = () => sslipName(host, APP, 'production');
const preview = (env: string) => sslipName(host, APP, env);

// What a hostile preview runs: probe the admin API on TCP (v4 and v6) and on the socket, then
// take the config from wherever it answers, point production's upstream ($1) at the preview's
// port ($2) and load it back. Prints one line the test reads; http code 000 = not connected.
const ATTACK = `prod=$1 pv=$2
code() { curl -s -o /dev/null -m 3 -w '%{http_code}' "$@"; }
tcp=$(code http://127.0.0.1:2019/config/)
tcp6=$(code 'http://[::1]:2019/config/')
sock=$(code --unix-socket ${SOCKET} -H 'Host: ' http://x/config/)
hijack=000
for via in tcp sock; do
  if [ $via = tcp ]; then api() { curl -s -m 3 "$@" http://127.0.0.1:2019"$path"; }
  else api() { curl -s -m 3 --unix-socket ${SOCKET} -H 'Host: ' "$@" http://x"$path"; }; fi
  path=/config/
  config=$(api) || continue
  [ -n "$config" ] || continue
  path=/load
  hijack=$(printf '%s' "$config" | sed "s/127[.]0[.]0[.]1:$prod\\"/127.0.0.1:$pv\\"/g" |
    api -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @-)
  break
done
echo "ATTACK tcp=$tcp tcp6=$tcp6 sock=$sock hijack=$hijack"`;

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  // The same script for the preview user's own process (systemd would expand its $ signs in a
  // command line, so it goes in a file).
  const planted = await host.exec(
    ['sh', '-c', 'cat > /usr/local/bin/caddy-attack && chmod 0755 /usr/local/bin/caddy-attack'],
    { input: `${ATTACK}\n` },
  );
  expect(planted.code, planted.stderr).toBe(0);
  app = await makeApp(host, { app: APP, healthCheck: { path: '/up', timeout: 10 } });
  await app.commit('attack.sh', `${ATTACK}\n`);
  await app.commit('message.txt', 'production\n');
  const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
  await app.commit('message.txt', 'preview\n');
  const pv = await toss(host, ['deploy', 'pr-7'], { cwd: app.dir });
  expect(pv.code, pv.output).toBe(0);
});
afterAll(async () => {
  await host?.shutdown();
});

const sh = (script: string, ...args: string[]) =>
  inHost(host, ['sh', '-ec', script, 'sh', ...args]);

const ports = async () => {
  const state = await readStateOn(host, APP);
  return {
    prod: state.environments.production!.livePort,
    pv: state.environments['pr-7']!.livePort,
  };
};

/** The attack as the preview user, a process of its own on the host (not through toss). */
async function attackAsPreviewUser(): Promise<string> {
  const { prod: p, pv } = await ports();
  const result = await host.exec([
    'systemd-run',
    `--uid=${PREVIEW_USER}`,
    `--gid=${PREVIEW_USER}`,
    `--unit=caddy-attack-${++attacks}`,
    '--wait',
    '--pipe',
    '--collect',
    '--quiet',
    '--',
    '/bin/sh',
    '/usr/local/bin/caddy-attack',
    String(p),
    String(pv),
  ]);
  const line = /ATTACK .*/.exec(result.stdout)?.[0];
  expect(line, result.stdout + result.stderr).toBeDefined();
  return line as string;
}

const adminOnTcp = async () =>
  (await sh('ss -Hltn "sport = :2019"')).trim() !== '' ? 'tcp' : 'not on tcp';
const caddyStarts = async () =>
  (
    await sh('journalctl -u caddy -o cat --no-pager | grep -c "^Started caddy.service" || true')
  ).trim();
/** Caddy's running config, asked as root through the socket. */
const runningConfig = () =>
  sh(`curl -sS -m 5 --unix-socket ${SOCKET} -H 'Host: ' http://x/config/`);
const noLocks = async () => {
  expect((await readStateOn(host, APP)).lock).toBeNull();
  const status = await toss(host, ['lock', 'status'], { cwd: app.dir });
  expect(status.code, status.output).toBe(0);
  expect(status.stdout).toContain('not locked');
  // The server-wide registry flock is free too.
  await sh('flock -n /var/lib/toss/registry.lock true');
};

/** Simulates a server set up before this change: no drop-in, no admin line, admin on TCP. */
async function makeOlderServer(): Promise<void> {
  await sh(`rm -f ${DROPIN}
sed -i -e '/# toss: Caddy.s admin endpoint/d' -e '/^[[:space:]]*admin unix\\/\\//d' /etc/caddy/Caddyfile
systemctl daemon-reload
systemctl restart caddy`);
  expect(await adminOnTcp()).toBe('tcp');
}

describe("Caddy's admin endpoint answers only to root (and caddy)", () => {
  it('a deploy put it on a Unix socket in a directory only caddy can enter', async () => {
    expect(await adminOnTcp()).toBe('not on tcp');
    expect(await sh(`stat -c '%F %U:%G %a' /run/caddy ${SOCKET}`)).toBe(
      'directory caddy:caddy 700\nsocket caddy:caddy 755\n',
    );
    // The socket itself refuses writes (= connects) by group and others, too.
    expect(await sh(`cat ${DROPIN}`)).toContain('RuntimeDirectoryMode=0700');
    expect(await sh('cat /etc/caddy/Caddyfile')).toMatch(
      // In the global options (after toss's on_demand_tls ask, which tls internal sites use too).
      /^\{\n(?:\t[^\n]*\n)*?\t# toss: Caddy's admin endpoint.*\n\tadmin unix\/\/run\/caddy\/admin\.sock\n\tlocal_certs\n/,
    );
    // The user's own site in the same Caddyfile still answers.
    expect((await fetchSite(host, 'harness.test')).body).toBe('user site');
  });

  it('as the preview user: not reachable on TCP or through the socket; production unchanged', async () => {
    const before = await runningConfig();
    const { prod: p } = await ports();
    expect(before).toContain(`"dial":"127.0.0.1:${p}"`);
    expect(await attackAsPreviewUser()).toBe('ATTACK tcp=000 tcp6=000 sock=000 hijack=000');
    expect(await runningConfig()).toBe(before);
    expect(await fetchSite(host, prod())).toEqual({ status: 200, body: 'production\n' });
    // Caddy's certificates and keys stay out of the preview user's reach as well.
    const keys = await host.exec([
      'runuser',
      '-u',
      PREVIEW_USER,
      '--',
      'sh',
      '-c',
      'cat /var/lib/caddy/.local/share/caddy/pki/authorities/local/root.key; ls /run/caddy',
    ]);
    expect(keys.code).not.toBe(0);
    expect(keys.stdout).toBe('');
    expect(keys.stderr).toMatch(/Permission denied/);
  });

  it("from a preview's deployScript: the same attack fails, and toss's own reload works", async () => {
    const { prod: p, pv } = await ports();
    app.configure({ deployScript: ['node build.js', `sh attack.sh ${p} ${pv}`] });
    await app.commit('message.txt', 'preview 2\n');
    const run = await toss(host, ['deploy', 'pr-7'], { cwd: app.dir });
    app.configure({ deployScript: ['node build.js'] });
    await app.commit('message.txt', 'preview 3\n');
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('ATTACK tcp=000 tcp6=000 sock=000 hijack=000');
    expect(await fetchSite(host, prod())).toEqual({ status: 200, body: 'production\n' });
    expect((await fetchSite(host, preview('pr-7'))).body).toBe('preview 2\n');
  });

  it('a server set up earlier (admin on localhost:2019, hijackable) is fixed by its next deploy, without a restart', async () => {
    await makeOlderServer();
    // The attack is real against that server: production's name now serves the preview.
    expect(await attackAsPreviewUser()).toBe('ATTACK tcp=200 tcp6=000 sock=000 hijack=200');
    expect((await fetchSite(host, prod())).body).toBe('preview 2\n');

    const starts = Number(await caddyStarts());
    const probe = startProbe(host, 'harness.test');
    const started = Date.now();
    const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
    const took = Date.now() - started;
    await new Promise((r) => setTimeout(r, 500));
    const probed = await probe.stop();
    expect(run.code, run.output).toBe(0);
    reportRow({
      scenario: `older server fixed by a deploy (${took} ms): admin endpoint moved by a graceful reload, other site probed every 50 ms`,
      runs: probed.ok + probed.failed,
      survived: probed.ok,
      lost: probed.failed,
    });
    // Moved through the old endpoint: no restart, not one failed request to any site.
    expect(Number(await caddyStarts())).toBe(starts);
    expect(probed.failed, probed.failures.join('\n')).toBe(0);
    expect(await adminOnTcp()).toBe('not on tcp');
    expect(await fetchSite(host, prod())).toEqual({ status: 200, body: 'preview 3\n' });
    expect(await attackAsPreviewUser()).toBe('ATTACK tcp=000 tcp6=000 sock=000 hijack=000');
    await sh(`test -S ${SOCKET} && test -f ${DROPIN}`);
  });

  it('a redeploy of a fixed server neither restarts Caddy nor moves its admin endpoint', async () => {
    const starts = Number(await caddyStarts());
    await app.commit('message.txt', 'production 2\n');
    const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
    expect(run.code, run.output).toBe(0);
    expect(Number(await caddyStarts())).toBe(starts);
    expect(await adminOnTcp()).toBe('not on tcp');
    expect((await fetchSite(host, prod())).body).toBe('production 2\n');
  });

  it('a Caddyfile that sets its own TCP admin address is refused, naming it; nothing changes', async () => {
    await sh(
      `cp -a /etc/caddy/Caddyfile /root/Caddyfile.good
sed -i 's|admin unix//run/caddy/admin.sock|admin localhost:2019|' /etc/caddy/Caddyfile`,
    );
    try {
      await app.commit('message.txt', 'must not ship\n');
      const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
      expect(run.code, run.output).toBe(1);
      expect(run.stderr).toContain("sets Caddy's admin endpoint to localhost:2019");
      expect(run.stderr).toMatch(/remove the `admin` line/);
      expect((await fetchSite(host, prod())).body).toBe('production 2\n');
      await noLocks();
    } finally {
      await sh('cp -a /root/Caddyfile.good /etc/caddy/Caddyfile');
    }
  });
});

describe('a Caddy change that cannot be applied: bounded, rolled back, Caddy kept serving', () => {
  it('a reload that hangs (Caddy frozen): fails within the limit naming it, Caddy restarted on the last good config', async () => {
    await app.commit('message.txt', 'preview 4\n');
    await sh('systemctl kill -s STOP caddy');
    const started = Date.now();
    const run = await toss(host, ['deploy', 'pr-7'], { cwd: app.dir });
    const took = Date.now() - started;
    console.log(
      `RELIABILITY | hung reload: deploy failed after ${took} ms: ${run.stderr.trim().split('\n').slice(0, 3).join(' / ')}`,
    );
    expect(run.code, run.output).toBe(1);
    expect(run.stderr).toContain('Caddy did not finish reloading in time');
    expect(run.stderr).toContain('the reload did not finish within 15 s');
    expect(run.stderr).toContain('Caddy was restarted with the previous configuration');
    expect(took).toBeLessThan(60_000);
    expect((await sh('systemctl is-active caddy')).trim()).toBe('active');
    expect(await fetchSite(host, prod())).toEqual({ status: 200, body: 'production 2\n' });
    expect((await fetchSite(host, preview('pr-7'))).body).toBe('preview 2\n');
    expect((await fetchSite(host, 'harness.test')).body).toBe('user site');
    await noLocks();
    await sh('systemctl restart caddy');
    expect(await fetchSite(host, prod())).toEqual({ status: 200, body: 'production 2\n' });
    // Nothing is left behind: the preview deploys once Caddy answers again.
    const again = await toss(host, ['deploy', 'pr-7'], { cwd: app.dir });
    expect(again.code, again.output).toBe(0);
    expect((await fetchSite(host, preview('pr-7'))).body).toBe('preview 4\n');
  });

  it('a config the caddy user cannot read (root could): refused by validation as caddy, fast, nothing left', async () => {
    // A file only root can read where Caddy imports site files: valid for a root `caddy
    // validate`, not for the caddy user that runs Caddy.
    await sh(
      `umask 077; printf 'http://rootonly.test {\\n\\trespond "root only"\\n}\\n' > /etc/caddy/toss/zz-rootonly.caddy`,
    );
    try {
      await app.commit('message.txt', 'preview 8\n');
      const started = Date.now();
      const run = await toss(host, ['deploy', 'pr-8'], { cwd: app.dir });
      const took = Date.now() - started;
      console.log(
        `RELIABILITY | config unreadable for caddy: deploy failed after ${took} ms: ${run.stderr.trim().split('\n').slice(0, 3).join(' / ')}`,
      );
      expect(run.code, run.output).toBe(1);
      expect(run.stderr).toContain('Caddy rejected the configuration');
      expect(run.stderr).toMatch(/zz-rootonly\.caddy: permission denied/);
      expect(took).toBeLessThan(30_000);
      expect(await sh(`ls /etc/caddy/toss`)).not.toContain(`${APP}-pr-8.caddy`);
      expect((await sh('systemctl is-active caddy')).trim()).toBe('active');
      expect(await fetchSite(host, prod())).toEqual({ status: 200, body: 'production 2\n' });
      await noLocks();
    } finally {
      await sh('rm -f /etc/caddy/toss/zz-rootonly.caddy');
    }
    await sh('systemctl restart caddy');
    expect(await fetchSite(host, prod())).toEqual({ status: 200, body: 'production 2\n' });
  });
});
