// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the workflow's ${{ }} are GitHub expressions
/**
 * `toss init` end to end: a bare Debian host (no Caddy, no rsync, packages only from a
 * local repository served from this machine) provisioned and deployed to over verified HTTPS;
 * re-runs that change nothing; the generated files checked by real validators; the wizard
 * driven through a real pseudo-terminal; sudo and no-sudo users; host-key trust.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, fetchSite, inHost, makeApp, sslipName, toss } from './support/app.js';
import { ensureAptRepo, readCaddyCa, type ServedRepo, serveAptRepo } from './support/apt-repo.js';
import { runInPty } from './support/pty.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

let bare: TestHost;
let host: TestHost;
let repo: ServedRepo | undefined;

beforeAll(async () => {
  const [bares, hosts, repoDir] = await Promise.all([
    bootHosts(1, { image: 'bare' }),
    bootHosts(1),
    ensureAptRepo(),
  ]);
  [bare] = bares as [TestHost];
  [host] = hosts as [TestHost];
  repo = await serveAptRepo(bare, repoDir);
  // A cold cache builds the bare rootfs first (mmdebstrap; minutes when the mirror is slow).
}, 900_000);
afterAll(async () => {
  await Promise.allSettled([bare?.shutdown(), host?.shutdown(), repo?.close()]);
});

/** An empty known_hosts file: init must learn the host key itself. */
function freshKnownHosts(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'toss-init-kh-')), 'known_hosts');
  writeFileSync(file, '');
  return file;
}

async function hostKeyLine(h: TestHost): Promise<string> {
  const [type, blob] = (await inHost(h, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub']))
    .trim()
    .split(/\s+/);
  return `${h.ip} ${type} ${blob}`;
}

const initFlags = (h: TestHost, app: string, user = 'root') => [
  'init',
  '--yes',
  '--server',
  `${user}@${h.ip}`,
  '--app',
  app,
  '--start',
  'node server.js',
  '--deploy-script',
  'node build.js',
];

describe('toss init on a bare server', () => {
  let app: AppCheckout;
  let knownHosts: string;

  it('refuses to overwrite an existing toss.json under --yes, before touching the server', async () => {
    app = await makeApp(bare, { app: 'hello' });
    knownHosts = freshKnownHosts();
    const before = readFileSync(join(app.dir, 'toss.json'), 'utf8');
    const r = await toss(bare, initFlags(bare, 'hello'), {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    expect(r.code, r.output).toBe(2);
    expect(r.stderr).toContain('toss.json already exists with other content; nothing was changed');
    expect(r.stderr).toContain('--force');
    expect(readFileSync(join(app.dir, 'toss.json'), 'utf8')).toBe(before);
    expect(readFileSync(knownHosts, 'utf8')).toBe('');
    expect((await bare.exec(['test', '-e', '/usr/bin/caddy'])).code).not.toBe(0);
  });

  it('provisions it (Caddy, rsync, users, /srv/<app>), accepting the new host key like accept-new and saying so', async () => {
    const r = await toss(bare, [...initFlags(bare, 'hello'), '--force'], {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/accepted the new host key SHA256:\S+ \(ssh-ed25519\) without asking/);
    expect(r.output).toContain('StrictHostKeyChecking=accept-new');
    expect(r.stdout).toContain('installed caddy, rsync');

    // The printed and recorded known_hosts line is the host's real key.
    const line = await hostKeyLine(bare);
    expect(r.stdout).toContain(`  ${line}\n`);
    expect(readFileSync(knownHosts, 'utf8')).toBe(`${line}\n`);

    // DNS, secrets and what next.
    expect(r.stdout).toContain('DNS records to add');
    expect(r.stdout).toContain('TOSS_SSH_KEY');
    expect(r.stdout).toContain('TOSS_KNOWN_HOSTS');
    expect(r.stdout).toContain('toss deploy production');

    expect(await inHost(bare, ['systemctl', 'is-enabled', 'caddy'])).toBe('enabled\n');
    expect(await inHost(bare, ['systemctl', 'is-active', 'caddy'])).toBe('active\n');
    await inHost(bare, ['rsync', '--version']);
    await inHost(bare, ['id', 'toss-hello']);
    await inHost(bare, ['id', 'toss-hello_pv']);
    const caddyfile = await inHost(bare, ['cat', '/etc/caddy/Caddyfile']);
    expect(caddyfile).toContain('\nimport /etc/caddy/toss/*.caddy\n');
    expect(caddyfile).toContain('file_server'); // Debian's own default site is still there
    // Caddy's admin endpoint moved off localhost:2019 to a socket only root and caddy can open.
    expect(r.stdout).toContain("moved Caddy's admin endpoint to /run/caddy/admin.sock");
    expect(caddyfile).toMatch(/^\{\n\t# toss: .*\n\tadmin unix\/\/run\/caddy\/admin\.sock\n\}\n/);
    expect(
      await inHost(bare, ['stat', '-c', '%F %U %a', '/run/caddy', '/run/caddy/admin.sock']),
    ).toBe('directory caddy 700\nsocket caddy 755\n');
    expect(await inHost(bare, ['ss', '-Hltn', 'sport = :2019'])).toBe('');
    const state = JSON.parse(await inHost(bare, ['cat', '/srv/hello/.toss/state.json']));
    expect(state).toMatchObject({
      app: 'hello',
      origin: 'github.com/octo/hello',
      environments: {},
    });
    const secrets = await inHost(bare, [
      'stat',
      '-c',
      '%n %U:%G %a %s',
      '/srv/hello/.toss/secrets/production.env',
      '/srv/hello/.toss/secrets/preview.env',
    ]);
    expect(secrets).toBe(
      '/srv/hello/.toss/secrets/production.env root:root 600 0\n/srv/hello/.toss/secrets/preview.env root:root 600 0\n',
    );
  });

  it('then `toss deploy production` serves the example over verified HTTPS', async () => {
    const d = await toss(bare, ['deploy', 'production'], {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    expect(d.code, d.output).toBe(0);
    const withCa = { ...bare, caCert: await readCaddyCa(bare) };
    const page = await fetchSite(withCa, sslipName(bare, 'hello', 'production'));
    expect(page).toEqual({ status: 200, body: 'Hello from toss!\n' });
  });

  it('a second init changes nothing and says so; the Caddyfile keeps the user own sites', async () => {
    const userSite = '\nhttps://user.test {\n\ttls internal\n\trespond "user site"\n}\n';
    await inHost(bare, [
      'sh',
      '-c',
      'printf "%s" "$1" >>/etc/caddy/Caddyfile && systemctl reload caddy',
      'sh',
      userSite,
    ]);
    const caddyBefore = await inHost(bare, ['cat', '/etc/caddy/Caddyfile']);
    const files = () =>
      ['toss.json', '.github/workflows/toss.yml'].map((f) =>
        readFileSync(join(app.dir, f), 'utf8'),
      );
    const filesBefore = files();
    const r = await toss(bare, initFlags(bare, 'hello'), {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain('nothing to change');
    expect(r.stdout).toContain(
      'Nothing to change: the server and the files are as toss init leaves them.',
    );
    expect(r.output).not.toContain('accepted the new host key');
    expect(files()).toEqual(filesBefore);
    expect(readFileSync(knownHosts, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(await inHost(bare, ['cat', '/etc/caddy/Caddyfile'])).toBe(caddyBefore);
    const withCa = { ...bare, caCert: await readCaddyCa(bare) };
    expect((await fetchSite(withCa, 'user.test')).body).toBe('user site');
    expect((await fetchSite(withCa, sslipName(bare, 'hello', 'production'))).body).toBe(
      'Hello from toss!\n',
    );
  });

  it('writes files that real validators accept: the workflow (action-validator) and toss.json (ajv, toss.schema.json)', async () => {
    const workflow = join(app.dir, '.github/workflows/toss.yml');
    const validator = join(ROOT, 'node_modules/.bin/action-validator');
    const checked = await run(validator, [workflow]).catch(
      (e: { stdout: string; stderr: string }) => {
        throw new Error(`action-validator refused the workflow:\n${e.stdout}${e.stderr}`);
      },
    );
    expect(checked.stderr).toBe('');
    const wf = parseYaml(readFileSync(workflow, 'utf8'));
    expect(wf.on.push.branches).toEqual(['main']);
    expect(wf.on.pull_request.types).toEqual(['opened', 'synchronize', 'reopened', 'closed']);
    expect(wf.on.schedule).toHaveLength(1);
    expect(wf.concurrency.group).toBe('toss-${{ github.event.pull_request.number || github.ref }}');
    expect(wf.permissions).toEqual({
      contents: 'read',
      'pull-requests': 'write',
      deployments: 'write',
    });
    const step = wf.jobs.deploy.steps[1];
    expect(step.uses).toBe('toss/deploy@v1');
    expect(step.with['ssh-key']).toBe('${{ secrets.TOSS_SSH_KEY }}');
    expect(step.with['known-hosts']).toBe('${{ secrets.TOSS_KNOWN_HOSTS }}');

    const schema = JSON.parse(readFileSync(join(ROOT, 'toss.schema.json'), 'utf8'));
    const config = JSON.parse(readFileSync(join(app.dir, 'toss.json'), 'utf8'));
    const validate = new Ajv({ strict: false }).compile(schema);
    expect(validate(config), JSON.stringify(validate.errors)).toBe(true);
    expect(config).toMatchObject({
      $schema: schema.$id,
      app: 'hello',
      server: `root@${bare.ip}`,
      startCommand: 'node server.js',
      deployScript: ['node build.js'],
      tls: 'internal', // a field init does not ask about survives
    });
  });
});

describe('toss init on a server that has Caddy, as sudo and non-sudo users, and interactively', () => {
  it('works as the non-root user deploy through passwordless sudo; the user Caddyfile site survives', async () => {
    const app = await makeApp(host, { app: 'sudoapp' });
    rmSync(join(app.dir, 'toss.json'));
    const r = await toss(host, initFlags(host, 'sudoapp', 'deploy'), {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: freshKnownHosts() },
    });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('passwordless sudo');
    expect(r.stdout).toContain('added the toss import line');
    const state = JSON.parse(await inHost(host, ['cat', '/srv/sudoapp/.toss/state.json']));
    expect(state.origin).toBe('github.com/octo/sudoapp');
    const caddyfile = await inHost(host, ['cat', '/etc/caddy/Caddyfile']);
    expect(caddyfile).toContain('https://harness.test {');
    expect(caddyfile).toContain('import /etc/caddy/toss/*.caddy');
    expect((await fetchSite(host, 'harness.test')).body).toBe('user site');
    expect(JSON.parse(readFileSync(join(app.dir, 'toss.json'), 'utf8')).server).toBe(
      `deploy@${host.ip}`,
    );
  });

  it('without sudo rights stops before changing anything, saying what is needed', async () => {
    await inHost(host, [
      'sh',
      '-c',
      'useradd --create-home --shell /bin/bash nosudo && install -d -m 0700 -o nosudo -g nosudo /home/nosudo/.ssh && install -m 0600 -o nosudo -g nosudo /root/.ssh/authorized_keys /home/nosudo/.ssh/authorized_keys',
    ]);
    const app = await makeApp(host, { app: 'nosudoapp' });
    rmSync(join(app.dir, 'toss.json'));
    const r = await toss(host, initFlags(host, 'nosudoapp', 'nosudo'), {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: freshKnownHosts() },
    });
    expect(r.code, r.output).toBe(1);
    expect(r.stderr).toContain('toss needs passwordless sudo for nosudo');
    expect(r.stderr).toContain(
      "hint: allow it on the server (as root): echo 'nosudo ALL=(ALL) NOPASSWD:ALL'",
    );
    expect((await host.exec(['test', '-e', '/srv/nosudoapp'])).code).not.toBe(0);
    expect((await host.exec(['id', 'toss-nosudoapp'])).code).not.toBe(0);
    expect(() => readFileSync(join(app.dir, 'toss.json'))).toThrow();
  });

  it('pins --host-key, refuses a wrong pin and a changed key', async () => {
    const app = await makeApp(host, { app: 'pinned' });
    rmSync(join(app.dir, 'toss.json'));
    const [, , blob] = (await hostKeyLine(host)).split(' ');
    const fingerprint = `SHA256:${createHash('sha256')
      .update(Buffer.from(blob as string, 'base64'))
      .digest('base64')
      .replace(/=+$/, '')}`;

    const wrong = await toss(
      host,
      [...initFlags(host, 'pinned'), '--host-key', `SHA256:${'A'.repeat(43)}`],
      { cwd: app.dir, env: { TOSS_KNOWN_HOSTS: freshKnownHosts() } },
    );
    expect(wrong.code, wrong.output).toBe(1);
    expect(wrong.stderr).toContain(`presented host key ${fingerprint}`);
    expect((await host.exec(['test', '-e', '/srv/pinned'])).code).not.toBe(0);

    // Another key recorded for this address: a changed key, refused even with --yes.
    const other = bare.knownHostsLine.replace(bare.ip, host.ip);
    const changedFile = freshKnownHosts();
    writeFileSync(changedFile, `${other}\n`);
    const changed = await toss(host, initFlags(host, 'pinned'), {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: changedFile },
    });
    expect(changed.code, changed.output).toBe(1);
    expect(changed.stderr).toContain('HOST KEY CHANGED');
    expect(readFileSync(changedFile, 'utf8')).toBe(`${other}\n`);
    expect((await host.exec(['test', '-e', '/srv/pinned'])).code).not.toBe(0);

    const knownHosts = freshKnownHosts();
    const pinned = await toss(host, [...initFlags(host, 'pinned'), '--host-key', fingerprint], {
      cwd: app.dir,
      env: { TOSS_KNOWN_HOSTS: knownHosts },
    });
    expect(pinned.code, pinned.output).toBe(0);
    expect(pinned.output).not.toContain('accept-new');
    expect(readFileSync(knownHosts, 'utf8')).toBe(`${await hostKeyLine(host)}\n`);
  });

  it('the wizard typed at in a real terminal writes the same files as the flags', async () => {
    const byFlags = await makeApp(host, { app: 'wizard' });
    const flagsRun = await toss(host, [...initFlags(host, 'wizard'), '--force'], {
      cwd: byFlags.dir,
      env: { TOSS_KNOWN_HOSTS: freshKnownHosts() },
    });
    expect(flagsRun.code, flagsRun.output).toBe(0);

    const typed = await makeApp(host, { app: 'wizard' });
    const knownHosts = freshKnownHosts();
    const argv = [
      process.execPath,
      '--import',
      join(ROOT, 'node_modules/tsx/dist/loader.mjs'),
      join(ROOT, 'src/cli/index.ts'),
      'init',
    ];
    const pty = await runInPty(
      argv,
      [
        ['Server (SSH target', `root@${host.ip}\r`],
        ['App name', 'wizard\r'],
        ['Domain for production', '\r'],
        ['Start command', 'node server.js\r'],
        ['Build on the CI runner', 'n'],
        ['Deploy script: first command', 'node build.js\r'],
        ['Next deploy command', '\r'],
        ['toss.json exists with other content. Overwrite it?', 'y'],
        ["the server's key? Trust it and continue", 'y'],
      ],
      {
        cwd: typed.dir,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: mkdtempSync(join(tmpdir(), 'toss-home-')),
          TERM: 'xterm-256color',
          TOSS_KNOWN_HOSTS: knownHosts,
          TOSS_SSH_KEY: host.keyPath,
        },
      },
    );
    expect(pty.code, pty.screen).toBe(0);
    expect(pty.screen).toContain('Unknown host key');
    expect(pty.screen).toContain('nothing to change'); // same app, same server: already provisioned
    for (const file of ['toss.json', '.github/workflows/toss.yml']) {
      expect(readFileSync(join(typed.dir, file), 'utf8'), file).toBe(
        readFileSync(join(byFlags.dir, file), 'utf8'),
      );
    }
    expect(readFileSync(knownHosts, 'utf8')).toBe(`${await hostKeyLine(host)}\n`);
  });
});
