import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { caddyAdminDropIn } from '../../src/server/caddy-admin.js';
import {
  CADDY_ERROR_MAX,
  CADDY_INVALID_EXIT,
  CADDY_RELOAD_EXIT,
  CADDY_RELOAD_TIMEOUT_EXIT,
  CADDY_RELOAD_TIMEOUT_S,
  installCaddyFileArgv,
  removeCaddyFileArgv,
  secureCaddyAdminArgv,
} from '../../src/server/caddy-apply.js';
import { buildSiteFile, ensureImportLine } from '../../src/server/caddy-site.js';
import { hostNameFor, sslipLabel, usesSslip } from '../../src/server/hostnames.js';

const HASH = '$2a$14$IjHTgaFGL865/vAW5IC6H.APHrPDltaJAIQ53tFi33ws0AOJuSemG';
// One connection per request, closed after it, so an open connection is a request in flight
// (see caddy-site.ts).
const TRANSPORT = '\t\ttransport http {\n\t\t\tkeepalive off\n\t\t}\n';

describe('buildSiteFile', () => {
  it.each([
    [
      'automatic HTTPS',
      { hostName: 'myapp.com', port: 3000, tls: 'auto' as const },
      `myapp.com {\n\treverse_proxy 127.0.0.1:3000 {\n${TRANSPORT}\t}\n}\n`,
    ],
    [
      'Caddy’s internal CA',
      { hostName: 'myapp.com', port: 3001, tls: 'internal' as const },
      `# toss-on-demand: myapp.com\nmyapp.com {\n\ttls internal {\n\t\ton_demand\n\t}\n\treverse_proxy 127.0.0.1:3001 {\n${TRANSPORT}\t}\n}\n`,
    ],
    [
      'plain HTTP',
      { hostName: 'pr-1.shop.203-0-113-10.sslip.io', port: 3002, tls: 'off' as const },
      `http://pr-1.shop.203-0-113-10.sslip.io {\n\treverse_proxy 127.0.0.1:3002 {\n${TRANSPORT}\t}\n}\n`,
    ],
    [
      'basic auth',
      {
        hostName: 'pr-42.preview.myapp.com',
        port: 3003,
        tls: 'internal' as const,
        basicAuth: { user: 'team', passwordHash: HASH },
      },
      `# toss-on-demand: pr-42.preview.myapp.com\npr-42.preview.myapp.com {\n\ttls internal {\n\t\ton_demand\n\t}\n\tbasicauth {\n\t\tteam ${HASH}\n\t}\n\treverse_proxy 127.0.0.1:3003 {\n${TRANSPORT}\t}\n}\n`,
    ],
  ])('%s', (_name, params, body) => {
    expect(buildSiteFile(params)).toBe(`# Managed by toss; rewritten on every deploy.\n${body}`);
  });

  it('serves a static site as files', () => {
    expect(
      buildSiteFile({
        hostName: 'docs.myapp.com',
        root: '/srv/docs/production/releases/x/dist',
        tls: 'auto',
      }),
    ).toBe(
      '# Managed by toss; rewritten on every deploy.\ndocs.myapp.com {\n\troot * /srv/docs/production/releases/x/dist\n\tencode zstd gzip\n\tfile_server\n}\n',
    );
  });

  it('names the owner in the header', () => {
    expect(
      buildSiteFile({
        hostName: 'a.com',
        port: 3000,
        tls: 'auto',
        app: 'shop',
        environment: 'pr-1',
      }),
    ).toMatch(/^# Managed by toss \(app shop, environment pr-1\); rewritten on every deploy\.\n/);
  });

  it.each([
    ['a host with a space', { hostName: 'a.com b.com' }],
    ['a host with a brace', { hostName: 'a.com{' }],
    ['a host with a newline', { hostName: 'a.com\nimport /etc/passwd' }],
    ['a host with a quote', { hostName: '"a.com"' }],
    ['an empty host', { hostName: '' }],
    ['a user with a space', { basicAuth: { user: 'a b', passwordHash: HASH } }],
    ['a user with a brace', { basicAuth: { user: 'a}', passwordHash: HASH } }],
    ['a user with a quote', { basicAuth: { user: 'a"', passwordHash: HASH } }],
    ['a plain password', { basicAuth: { user: 'team', passwordHash: 'hunter2' } }],
    ['a hash with a newline', { basicAuth: { user: 'team', passwordHash: `${HASH}\n}` } }],
    ['port 0', { port: 0 }],
    ['a static root that is relative', { port: undefined, root: 'srv/site' }],
    ['a static root with a space', { port: undefined, root: '/srv/my site' }],
    ['a static root with a brace', { port: undefined, root: '/srv/site}' }],
    ['a static root with ..', { port: undefined, root: '/srv/../etc' }],
  ])('refuses %s', (_name, change) => {
    expect(() =>
      buildSiteFile({ hostName: 'a.com', port: 3000, tls: 'auto', ...change }),
    ).toThrow();
  });

  const caddy = spawnSync('caddy', ['version']).status === 0;
  it.skipIf(!caddy)('is a Caddyfile that Caddy adapts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'toss-caddy-'));
    const file = join(dir, 'Caddyfile');
    const sites = [
      buildSiteFile({ hostName: 'a.example.com', port: 3000, tls: 'internal' }),
      buildSiteFile({
        hostName: 'b.example.com',
        port: 3001,
        tls: 'off',
        basicAuth: { user: 'team', passwordHash: HASH },
      }),
    ];
    writeFileSync(file, sites.join('\n'));
    const out = spawnSync('caddy', ['adapt', '--config', file, '--adapter', 'caddyfile'], {
      encoding: 'utf8',
    });
    expect(out.status).toBe(0);
    expect(out.stdout).toContain('"dial":"127.0.0.1:3001"');
    expect(out.stdout).toContain('"username":"team"');
  });
});

describe('ensureImportLine', () => {
  const LINE = 'import /etc/caddy/toss/*.caddy';
  const ADDED = `# Sites deployed by toss, one file per app environment.\n${LINE}\n`;
  it.each([
    ['an empty file', '', ADDED, true],
    ['Debian’s default', ':80 {\n\tfile_server\n}\n', `:80 {\n\tfile_server\n}\n\n${ADDED}`, true],
    ['no final newline', '{\n\temail a@b.c\n}', `{\n\temail a@b.c\n}\n\n${ADDED}`, true],
    ['the line already there', `{\n}\n${LINE}\n:80 {\n}\n`, `{\n}\n${LINE}\n:80 {\n}\n`, false],
    ['the line with trailing spaces', `${LINE}  \n`, `${LINE}  \n`, false],
    ['CRLF line ends', `${LINE}\r\n`, `${LINE}\r\n`, false],
    [
      'the line only inside a block',
      `a.com {\n\t${LINE}\n}\n`,
      `a.com {\n\t${LINE}\n}\n\n${ADDED}`,
      true,
    ],
  ])('%s', (_name, input, text, changed) => {
    expect(ensureImportLine(input)).toEqual({ text, changed });
    expect(ensureImportLine(text)).toEqual({ text, changed: false });
  });
});

describe('hostNameFor', () => {
  it.each([
    [{ environment: 'production', domain: 'myapp.com' }, 'myapp.com'],
    [{ environment: 'pr-42', domain: 'myapp.com' }, 'pr-42.preview.myapp.com'],
    [
      { environment: 'pr-42', domain: 'myapp.com', previewDomain: 'pv.example.net' },
      'pr-42.pv.example.net',
    ],
    [{ environment: 'staging', previewDomain: 'pv.example.net' }, 'staging.pv.example.net'],
    [
      { environment: 'production', previewDomain: 'pv.example.net', serverIp: '203.0.113.10' },
      'production.shop.203-0-113-10.sslip.io',
    ],
    [{ environment: 'pr-1', serverIp: '203.0.113.10' }, 'pr-1.shop.203-0-113-10.sslip.io'],
    [{ environment: 'pr-1', serverIp: '2001:DB8::1' }, 'pr-1.shop.2001-db8--1.sslip.io'],
    [{ environment: 'production', domain: 'MyApp.COM' }, 'myapp.com'],
  ])('%j → %s', (params, expected) => {
    expect(hostNameFor({ app: 'shop', ...params })).toBe(expected);
  });

  it('needs a domain or an IP', () => {
    expect(() => hostNameFor({ app: 'shop', environment: 'pr-1' })).toThrow(/no host name/);
  });

  it.each(['example.com', 'fe80::1%eth0', '::ffff:1.2.3.4', '1.2.3'])('refuses %s', (ip) => {
    expect(() => sslipLabel(ip)).toThrow(/not an IP/);
  });

  it('tells sslip.io names apart', () => {
    expect(usesSslip('pr-1.shop.1-2-3-4.sslip.io')).toBe(true);
    expect(usesSslip('myapp.com')).toBe(false);
  });
});

describe('installing Caddy files', () => {
  /**
   * A fake caddy that fails validation when a site file says "invalid" (printing what a site
   * file names after "say"), a fake systemctl whose reload fails the same way, a setpriv that
   * drops its options, and a journal kept in a file.
   */
  function fakeServer(
    options: {
      dropIn?: string | null;
      moveAdmin?: 'works' | 'fails';
      /** Caddy's admin socket is open and curl posts to it with this exit (0, 22 refused, 28 timed out) */
      curl?: number;
    } = {},
  ) {
    const dir = mkdtempSync(join(tmpdir(), 'toss-caddy-apply-'));
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const log = join(dir, 'log');
    const journal = join(dir, 'journal');
    const caddyfile = join(dir, 'Caddyfile');
    const sites = join(dir, 'sites');
    const dropIn = join(dir, 'caddy.service.d', 'toss-admin.conf');
    const socket = join(dir, 'admin.sock');
    const allow = join(dir, 'tls-allow');
    mkdirSync(sites);
    // A relative import, as a user may write: Caddy reads it relative to the Caddyfile, which
    // only a reload through systemctl (caddy reload --config) gives it.
    writeFileSync(caddyfile, 'import sites/*.caddy\n');
    if (options.dropIn !== null) {
      mkdirSync(join(dir, 'caddy.service.d'));
      writeFileSync(dropIn, options.dropIn ?? `${caddyAdminDropIn()}\n`);
    }
    const said = `sed -n 's/.*say //p' ${sites}/*.caddy 2>/dev/null | head -n 1`;
    // `caddy reload --address …` (moving the admin endpoint through the old one) opens the new
    // socket, as the running Caddy would, or fails.
    const bindSocket = `python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' ${socket}`;
    const reload =
      options.moveAdmin === 'works'
        ? `[ "$1" != reload ] || { ${bindSocket}; exit 0; }\n`
        : `[ "$1" != reload ] || { echo 'Error: connection refused' >&2; exit 1; }\n`;
    writeFileSync(join(bin, 'install'), `#!/bin/sh\necho "install $*" >> ${log}\n`, {
      mode: 0o755,
    });
    writeFileSync(
      join(bin, 'caddy'),
      `#!/bin/sh\necho "caddy $*" >> ${log}\n${reload}[ "$1" != validate ] || cp "$3" ${join(dir, 'validated')}\nif [ "$1" = validate ] && [ "$3" = ${caddyfile} ] && [ -e ${join(dir, 'clash')} ] && ! grep -q good ${sites}/*.caddy; then echo 'Error: ambiguous site definition' >&2; exit 1; fi\nif cat ${sites}/*.caddy 2>/dev/null | grep -q invalid; then echo '{"level":"info","msg":"using provided configuration"}' >&2; echo "$(${said})" >&2; echo 'Error: bad site' >&2; exit 1; fi\n`,
      { mode: 0o755 },
    );
    // Like Caddy's own reload, systemctl reload fails on a config with an invalid site.
    writeFileSync(
      join(bin, 'systemctl'),
      `#!/bin/sh\necho "systemctl $*" >> ${log}\ncase "$1" in is-active) exit 0;; daemon-reload) exit 0;; esac\nif [ -e ${join(dir, 'clash')} ] && ! grep -q good ${sites}/*.caddy; then echo 'Job for caddy.service failed.' >&2; exit 1; fi\nif cat ${sites}/*.caddy 2>/dev/null | grep -q invalid; then echo 'Reloading caddy.service - Caddy...' >> ${journal}; echo "$(${said})" >> ${journal}; echo 'Job for caddy.service failed.' >&2; exit 1; fi\n`,
      { mode: 0o755 },
    );
    writeFileSync(
      join(bin, 'setpriv'),
      `#!/bin/sh\necho "setpriv $*" | sed 's/ caddy validate.*//' >> ${log}\nwhile [ "\${1#--}" != "$1" ]; do shift; done\nexec "$@"\n`,
      { mode: 0o755 },
    );
    if (options.curl !== undefined) {
      spawnSync('sh', ['-c', bindSocket]);
      writeFileSync(caddyfile, `import ${sites}/*.caddy\n`);
      writeFileSync(
        join(bin, 'curl'),
        `#!/bin/sh\necho "curl $*" >> ${log}\nexit ${options.curl}\n`,
        { mode: 0o755 },
      );
    }
    writeFileSync(join(bin, 'journalctl'), `#!/bin/sh\ncat ${journal} 2>/dev/null\n`, {
      mode: 0o755,
    });
    const run = (argv: string[], input = '') => {
      const patched = [...argv];
      patched[6] = join(dir, 'registry.lock');
      patched[7] = caddyfile;
      patched[9] = dropIn;
      patched[10] = socket;
      patched[11] = sites;
      patched[13] = allow;
      return spawnSync(patched[0] as string, patched.slice(1), {
        input,
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });
    };
    const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : null);
    return {
      dir,
      log,
      run,
      read,
      caddyfile,
      dropIn,
      allow,
      site: join(sites, 'shop-pr-1.caddy'),
    };
  }

  it('passes values as arguments', () => {
    expect(installCaddyFileArgv('/etc/caddy/toss/shop-pr-1.caddy').slice(3)).toEqual([
      'sh',
      'install',
      '/etc/caddy/toss/shop-pr-1.caddy',
      '/var/lib/toss/registry.lock',
      '/etc/caddy/Caddyfile',
      'yes',
      '/etc/systemd/system/caddy.service.d/toss-admin.conf',
      '/run/caddy/admin.sock',
      '/etc/caddy/toss',
      caddyAdminDropIn(),
      '/var/lib/toss/tls-allow',
      'toss-on-demand:',
    ]);
    expect(installCaddyFileArgv('/etc/caddy/toss/shop-pr-1.caddy', { validate: false })[8]).toBe(
      'no',
    );
    expect(removeCaddyFileArgv('/etc/caddy/toss/shop-pr-1.caddy')[4]).toBe('remove');
    expect(secureCaddyAdminArgv()[4]).toBe('check');
  });

  it("allows a site file's on-demand name while the file is there, and only its own", () => {
    const s = fakeServer();
    const marked = (host: string) => `# toss-on-demand: ${host}\n${host} {\n}\n`;
    const allowed = () => (existsSync(s.allow) ? readdirSync(s.allow).sort() : []);
    // Another site file's name stays whatever happens to this one.
    mkdirSync(s.allow);
    writeFileSync(join(s.allow, 'pr-2.example.test'), 'shop-pr-2.caddy\n');
    expect(s.run(installCaddyFileArgv(s.site), marked('pr-1.example.test')).status).toBe(0);
    expect(allowed()).toEqual(['pr-1.example.test', 'pr-2.example.test']);
    expect(s.read(join(s.allow, 'pr-1.example.test'))).toBe('shop-pr-1.caddy\n');
    // A new name replaces the old one (previewDomain changed).
    expect(s.run(installCaddyFileArgv(s.site), marked('pr-1.other.test')).status).toBe(0);
    expect(allowed()).toEqual(['pr-1.other.test', 'pr-2.example.test']);
    // A file that fails validation is restored, and with it the name it allowed.
    expect(
      s.run(installCaddyFileArgv(s.site), `invalid\n${marked('pr-9.example.test')}`).status,
    ).toBe(CADDY_INVALID_EXIT);
    expect(allowed()).toEqual(['pr-1.other.test', 'pr-2.example.test']);
    // Names outside the DNS alphabet are never written; an unmarked site allows nothing.
    for (const host of ['../x', 'a/b', '..', '*.example.test']) {
      expect(s.run(installCaddyFileArgv(s.site), marked(host)).status).toBe(0);
      expect(allowed()).toEqual(['pr-2.example.test']);
    }
    expect(s.run(installCaddyFileArgv(s.site), marked('pr-1.example.test')).status).toBe(0);
    expect(s.run(removeCaddyFileArgv(s.site)).status).toBe(0);
    expect(allowed()).toEqual(['pr-2.example.test']);
  });

  it('without validation first, a failed reload restores the file and says what Caddy rejects', () => {
    const s = fakeServer();
    expect(s.run(installCaddyFileArgv(s.site), 'good {\n}\n').status).toBe(0);
    const r = s.run(installCaddyFileArgv(s.site, { validate: false }), 'invalid {\n}\n');
    expect(r.status).toBe(CADDY_INVALID_EXIT);
    expect(r.stderr).toBe('Error: bad site\n');
    expect(s.read(s.site)).toBe('good {\n}\n');
  });

  it('skips the separate validation when told to (a port-only change), still reloading', () => {
    const s = fakeServer();
    const r = s.run(installCaddyFileArgv(s.site, { validate: false }), 'good {\n}\n');
    expect(r.status).toBe(0);
    expect(s.read(s.site)).toBe('good {\n}\n');
    expect(s.read(s.log)).toBe('systemctl reload-or-restart caddy\n');
  });

  it('posts the Caddyfile to the admin socket for Caddy to load, instead of a reload through systemctl', () => {
    const s = fakeServer({ curl: 0 });
    const r = s.run(installCaddyFileArgv(s.site, { validate: false }), 'good {\n}\n');
    expect(r.status, r.stderr).toBe(0);
    expect(s.read(s.log)).toBe(
      `curl -sS --fail --max-time ${CADDY_RELOAD_TIMEOUT_S} --unix-socket ${join(s.dir, 'admin.sock')} -H Host; ` +
        `-H Content-Type: text/caddyfile -H Cache-Control: must-revalidate --data-binary @${s.caddyfile} http://localhost/load\n`,
    );
    // A removal loads the same way.
    expect(s.run(removeCaddyFileArgv(s.site)).status).toBe(0);
    expect(s.read(s.log)).not.toContain('systemctl');
  });

  it('a load Caddy refuses goes the systemctl way, whose reload says why', () => {
    const s = fakeServer({ curl: 22 });
    expect(s.run(installCaddyFileArgv(s.site, { validate: false }), 'good {\n}\n').status).toBe(0);
    expect(s.read(s.log)).toMatch(/^curl .*\nsystemctl reload-or-restart caddy\n$/);
    const bad = s.run(installCaddyFileArgv(s.site, { validate: false }), 'invalid say what\n');
    expect(bad.status).toBe(CADDY_INVALID_EXIT);
    expect(bad.stderr).toContain('Error: bad site');
    expect(s.read(s.site)).toBe('good {\n}\n');
  });

  it('a load that times out restores the file and restarts Caddy on it', () => {
    const s = fakeServer({ curl: 28 });
    const r = s.run(installCaddyFileArgv(s.site, { validate: false }), 'good {\n}\n');
    expect(r.status).toBe(CADDY_RELOAD_TIMEOUT_EXIT);
    expect(r.stderr).toContain(`the reload did not finish within ${CADDY_RELOAD_TIMEOUT_S} s`);
    expect(s.read(s.site)).toBeNull();
    expect(s.read(s.log)).toMatch(/^curl .*\nsystemctl restart caddy\n$/);
  });

  it('a Caddyfile with a relative import is reloaded through systemctl, never posted', () => {
    const s = fakeServer({ curl: 0 });
    writeFileSync(s.caddyfile, `import ${join(s.dir, 'sites')}/*.caddy\nimport snippets/*\n`);
    expect(s.run(installCaddyFileArgv(s.site, { validate: false }), 'good {\n}\n').status).toBe(0);
    expect(s.read(s.log)).toBe('systemctl reload-or-restart caddy\n');
  });

  it('writes, validates as the caddy user and reloads', () => {
    const s = fakeServer();
    const r = s.run(installCaddyFileArgv(s.site), 'good {\n}\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(s.read(s.site)).toBe('good {\n}\n');
    expect(s.read(s.log)).toBe(
      [
        'setpriv --reuid=caddy --regid=caddy --init-groups --reset-env',
        `caddy validate --config ${join(s.dir, '.Caddyfile.toss-check')} --adapter caddyfile`,
        'systemctl reload-or-restart caddy',
        '',
      ].join('\n'),
    );
    expect(s.read(`${s.site}.toss-old`)).toBeNull();
  });

  it('validates a new site on its own: a copy of the Caddyfile that imports that file alone', () => {
    const s = fakeServer();
    const sites = join(s.dir, 'sites');
    writeFileSync(
      s.caddyfile,
      `{\n\temail ops@example.test\n}\nimport ${sites}/*.caddy\nimport other/*\n`,
    );
    expect(s.run(installCaddyFileArgv(s.site), 'good {\n}\n').status).toBe(0);
    expect(s.read(join(s.dir, 'validated'))).toBe(
      `{\n\temail ops@example.test\n}\nimport ${s.site}\nimport other/*\n`,
    );
    // The copy goes; a rejected site is still refused and restored.
    expect(s.read(join(s.dir, '.Caddyfile.toss-check'))).toBeNull();
    expect(s.run(installCaddyFileArgv(s.site), 'invalid {\n}\n').status).toBe(CADDY_INVALID_EXIT);
    expect(s.read(s.site)).toBe('good {\n}\n');
  });

  it('validates the Caddyfile itself in full', () => {
    const s = fakeServer();
    expect(s.run(installCaddyFileArgv(s.caddyfile), 'import sites/*.caddy\n').status).toBe(0);
    expect(s.read(s.log)).toContain(`caddy validate --config ${s.caddyfile} --adapter caddyfile`);
  });

  it('a site that passes on its own but that the whole config rejects: refused, restored, said', () => {
    // The reload refuses the whole config (here: a site that clashes with another one).
    const s = fakeServer();
    expect(s.run(installCaddyFileArgv(s.site), 'good {\n}\n').status).toBe(0);
    writeFileSync(join(s.dir, 'clash'), '');
    const r = s.run(installCaddyFileArgv(s.site), 'better {\n}\n');
    expect(r.status).toBe(CADDY_INVALID_EXIT);
    expect(r.stderr).toBe('Error: ambiguous site definition\n');
    expect(s.read(s.site)).toBe('good {\n}\n');
    const log = s.read(s.log)?.split('\n') ?? [];
    // After the failed reload: the full check (for Caddy's message), then the restored config.
    expect(log.slice(-6, -1)).toEqual([
      'systemctl reload-or-restart caddy',
      'setpriv --reuid=caddy --regid=caddy --init-groups --reset-env',
      `caddy validate --config ${s.caddyfile} --adapter caddyfile`,
      'systemctl reload caddy',
      'systemctl is-active --quiet caddy',
    ]);
  });

  it('restores the previous site when validation fails', () => {
    const s = fakeServer();
    s.run(installCaddyFileArgv(s.site), 'good {\n}\n');
    const r = s.run(installCaddyFileArgv(s.site), 'invalid {\n');
    expect(r.status).toBe(CADDY_INVALID_EXIT);
    expect(r.stderr).toBe('Error: bad site\n');
    expect(s.read(s.site)).toBe('good {\n}\n');
    expect(s.read(`${s.site}.toss-new`)).toBeNull();
  });

  it('removes a new site that fails validation', () => {
    const s = fakeServer();
    const r = s.run(installCaddyFileArgv(s.site), 'invalid {\n');
    expect(r.status).toBe(CADDY_INVALID_EXIT);
    expect(s.read(s.site)).toBeNull();
  });

  it('removes a site and reloads', () => {
    const s = fakeServer();
    s.run(installCaddyFileArgv(s.site), 'good {\n}\n');
    const r = s.run(removeCaddyFileArgv(s.site));
    expect(r.status).toBe(0);
    expect(s.read(s.site)).toBeNull();
  });

  // What leaves the server is Caddy's last "Error:" line, and only where it cannot quote a
  // file toss does not write.
  it.each([
    [
      'an error in a toss site file',
      (s: string) =>
        `Error: adapting config using caddyfile: ${s}/shop-pr-1.caddy:2 - unrecognized directive: foo`,
      true,
    ],
    [
      'an error in the Caddyfile',
      (_s: string, c: string) => `Error: adapting config using caddyfile: ${c}:9 - unexpected }`,
      true,
    ],
    [
      'an error in an imported key file',
      () =>
        'Error: adapting config using caddyfile: /var/lib/caddy/pki/root.key:1: unrecognized directive: -----BEGIN',
      false,
    ],
    [
      'an error in a sub-directory of the sites',
      (s: string) =>
        `Error: adapting config using caddyfile: ${s}/x/y.caddy:1: unrecognized directive: secret`,
      false,
    ],
    [
      'an error in a file named like a site elsewhere',
      (s: string) =>
        `Error: adapting config using caddyfile: ${s}.caddy:1: unrecognized directive: secret`,
      false,
    ],
    ['a provisioning error', () => 'Error: loading http app module: provision http: bad', true],
  ])('%s', (_name, line, quoted) => {
    const s = fakeServer();
    const text = line(join(s.dir, 'sites'), s.caddyfile);
    writeFileSync(join(s.dir, 'sites', 'other.caddy'), `# invalid, say ${text}\n`);
    const r = s.run(installCaddyFileArgv(s.site), 'good {\n}\n');
    expect(r.status).toBe(CADDY_INVALID_EXIT);
    // The fake's own last line is 'Error: bad site': drop it so the planted line is the last.
    expect(r.stderr).toBe('Error: bad site\n');
    writeFileSync(
      join(s.dir, 'bin', 'caddy'),
      `#!/bin/sh\necho '{"level":"error","msg":"secret in a log line"}' >&2\necho 'something else: secret' >&2\nprintf '%s\\n' '${text.replaceAll("'", `'\\''`)}' >&2\nexit 1\n`,
      { mode: 0o755 },
    );
    const r2 = s.run(installCaddyFileArgv(s.site), 'good {\n}\n');
    expect(r2.status).toBe(CADDY_INVALID_EXIT);
    expect(r2.stderr).not.toContain('secret in a log line');
    expect(r2.stderr).not.toContain('something else');
    if (quoted) expect(r2.stderr).toBe(`${text}\n`);
    else {
      expect(r2.stderr).not.toContain('BEGIN');
      expect(r2.stderr).not.toContain('secret');
      expect(r2.stderr).toBe(
        'Error: in a file toss does not write (not quoted here; run caddy validate on the server)\n',
      );
    }
  });

  it(`cuts Caddy's error to ${CADDY_ERROR_MAX} characters`, () => {
    const s = fakeServer();
    writeFileSync(join(s.dir, 'sites', 'other.caddy'), '# invalid\n');
    writeFileSync(
      join(s.dir, 'bin', 'caddy'),
      `#!/bin/sh\necho "Error: $(printf 'x%.0s' $(seq 1000))" >&2\nexit 1\n`,
      { mode: 0o755 },
    );
    const r = s.run(installCaddyFileArgv(s.site), 'good {\n}\n');
    expect(r.status).toBe(CADDY_INVALID_EXIT);
    expect(r.stderr.trimEnd()).toHaveLength(CADDY_ERROR_MAX);
  });

  it('a failed reload says what Caddy said in the journal, filtered the same way', () => {
    const s = fakeServer();
    s.run(installCaddyFileArgv(s.site), 'good {\n}\n');
    // Valid for validation (the fake caddy passes), refused by the reload.
    writeFileSync(join(s.dir, 'bin', 'caddy'), `#!/bin/sh\necho "caddy $*" >> ${s.log}\n`, {
      mode: 0o755,
    });
    const r = s.run(
      installCaddyFileArgv(s.site),
      '# invalid, say Error: sending configuration to instance: listen tcp :443: bind: address already in use\n',
    );
    expect(r.status).toBe(CADDY_RELOAD_EXIT);
    expect(r.stderr).toBe(
      'Error: sending configuration to instance: listen tcp :443: bind: address already in use\n',
    );
    expect(s.read(s.site)).toBe('good {\n}\n');
  });

  it('installs the admin drop-in when it is missing or differs, then reloads systemd', () => {
    for (const dropIn of [null, '[Service]\nRuntimeDirectory=caddy\n']) {
      const s = fakeServer({ dropIn });
      const r = s.run(installCaddyFileArgv(s.site), 'good {\n}\n');
      expect(r.status, r.stderr).toBe(0);
      expect(s.read(s.dropIn)).toBe(`${caddyAdminDropIn()}\n`);
      expect(s.read(s.log)?.split('\n')[0]).toBe('systemctl daemon-reload');
      // In place now: the next run leaves it alone.
      const again = s.run(installCaddyFileArgv(s.site), 'good {\n}\n');
      expect(again.status).toBe(0);
      expect(s.read(s.log)?.match(/daemon-reload/g)).toHaveLength(1);
    }
  });

  it('moves the admin endpoint through the old one when its Caddyfile names a socket Caddy has not opened', () => {
    const s = fakeServer({ moveAdmin: 'works' });
    const caddyfile = `{\n\tadmin unix/${join(s.dir, 'admin.sock')}\n}\nimport sites/*.caddy\n`;
    const r = s.run(installCaddyFileArgv(s.caddyfile), caddyfile);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('moved\n');
    expect(s.read(s.log)).toContain(
      `caddy reload --config ${s.caddyfile} --adapter caddyfile --address localhost:2019 --force`,
    );
    expect(s.read(s.log)).toContain(`install -d -m 0700 -o caddy -g caddy -- ${s.dir}`);
    expect(s.read(s.log)).not.toContain('systemctl restart');
    // The socket is open now: the next change is a plain reload.
    expect(s.run(installCaddyFileArgv(s.site), 'good {\n}\n').stdout).toBe('');
    expect(s.read(s.log)).toMatch(/\nsystemctl reload-or-restart caddy\n$/);
  });

  it('restarts Caddy (once) when moving the admin endpoint through the old one fails', () => {
    const s = fakeServer({ moveAdmin: 'fails' });
    const caddyfile = `{\n\tadmin unix/${join(s.dir, 'admin.sock')}\n}\nimport sites/*.caddy\n`;
    const r = s.run(installCaddyFileArgv(s.caddyfile), caddyfile);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('restarted\n');
    expect(s.read(s.log)).toMatch(/\nsystemctl restart caddy\n$/);
    expect(s.read(s.log)).not.toContain('systemctl reload');
    // Only the admin check: nothing to do while the socket is missing... restart again.
    expect(s.run(secureCaddyAdminArgv()).stdout).toBe('restarted\n');
  });

  it('only checks the admin endpoint in check mode: nothing changes when all is in place', () => {
    const s = fakeServer();
    const r = s.run(secureCaddyAdminArgv());
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(s.read(s.log)).toBeNull();
  });
});
