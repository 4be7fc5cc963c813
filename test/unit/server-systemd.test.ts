import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envPaths } from '../../src/server/paths.js';
import {
  isActiveArgv,
  journalArgv,
  stopInstanceArgv,
  stopRunUnitArgv,
} from '../../src/server/systemctl.js';
import {
  systemdEscapeDollar,
  systemdEscapeSpecifiers,
  systemdQuote,
} from '../../src/server/systemd-quote.js';
import {
  BUILD_TIMEOUT_EXIT,
  BUILD_TIMEOUT_MARKER,
  dependencyRunArgv,
  deployScriptFailure,
  deployScriptRunArgv,
  systemdRunArgv,
} from '../../src/server/systemd-run.js';
import {
  atEnvPriority,
  buildUnitTemplate,
  sandboxProperties,
} from '../../src/server/systemd-unit.js';

const ID = '20261127T223015Z-3fa9';

describe('systemdQuote', () => {
  it.each([
    ['node server.js', '"node server.js"'],
    ['', '""'],
    ['100%', '"100%%"'],
    ['%i %n', '"%%i %%n"'],
    ['echo $HOME $PORT', '"echo $$HOME $$PORT"'],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd's own ${VAR} syntax
    ['${PORT}', '"$${PORT}"'],
    ['say "hi"', '"say \\"hi\\""'],
    ["it's", `"it's"`],
    ['a\\b', '"a\\\\b"'],
    ['line1\nline2', '"line1\\nline2"'],
    ['tab\there', '"tab\\there"'],
    ['cr\r', '"cr\\r"'],
    ['bell\x07', '"bell\\a"'],
    ['esc\x1b[0m', '"esc\\x1b[0m"'],
    ['del\x7f', '"del\\x7f"'],
    ['a ; b', '"a ; b"'],
    ['trailing\\', '"trailing\\\\"'],
    ['ünïcødé ✓', '"ünïcødé ✓"'],
  ])('%j → %s', (input, quoted) => {
    expect(systemdQuote(input)).toBe(quoted);
  });

  it('refuses NUL', () => {
    expect(() => systemdQuote('a\0b')).toThrow(/NUL/);
  });

  it('escapes only specifiers in plain settings, only $ for systemd-run', () => {
    expect(systemdEscapeSpecifiers('toss 100% app')).toBe('toss 100%% app');
    expect(() => systemdEscapeSpecifiers('a\nb')).toThrow();
    expect(systemdEscapeDollar('echo $$ $HOME')).toBe('echo $$$$ $$HOME');
  });
});

const EXPECTED_UNIT = `# Managed by toss (app shop, environment production); rewritten on every deploy.
[Unit]
Description=toss shop production on port %i
After=network.target
StartLimitIntervalSec=0

[Service]
Type=exec
User=toss-shop
Group=toss-shop
WorkingDirectory=/srv/shop/production/slots/%i
EnvironmentFile=/srv/shop/production/env/slot-%i.env
Environment=HOME=/srv/shop/production/cache
ExecStart=/usr/bin/env PORT=%i TOSS_PORT=%i HOST=127.0.0.1 /bin/sh -c "node server.js --greeting \\"hi $$USER\\" --load 50%%"
Restart=always
RestartSec=1
KillMode=control-group
TimeoutStopSec=30
MemoryMax=512M
CPUQuota=150%
Slice=system.slice
CPUWeight=100
IOWeight=100
OOMScoreAdjust=0
Nice=0
UMask=0027
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/srv/shop/production/preserve /srv/shop/production/cache /srv/shop/production/slots/%i
InaccessiblePaths=-/srv/shop/.toss
PrivateTmp=yes
PrivateMounts=yes
PrivateDevices=yes
PrivateIPC=yes
ProtectHome=yes
ProtectProc=invisible
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RemoveIPC=yes
LockPersonality=yes
KeyringMode=private
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
SocketBindAllow=tcp:3000
SocketBindAllow=tcp:3001
SocketBindDeny=tcp:1-65535
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
CapabilityBoundingSet=
AmbientCapabilities=

[Install]
WantedBy=multi-user.target
`;

describe('buildUnitTemplate', () => {
  const params = {
    paths: envPaths('shop', 'production'),
    startCommand: 'node server.js --greeting "hi $USER" --load 50%',
    resources: { memory: '512M', cpu: '150%' },
    ports: [3000, 3001] as const,
  };

  it('writes the exact unit', () => {
    expect(buildUnitTemplate(params)).toBe(EXPECTED_UNIT);
  });

  it('runs previews as the preview user, with the default memory limit when none is set', () => {
    const unit = buildUnitTemplate({
      paths: envPaths('shop', 'pr-7'),
      startCommand: 'npm start',
      ports: [3004, 3005],
    });
    expect(unit).toContain('SocketBindAllow=tcp:3004\nSocketBindAllow=tcp:3005\n');
    expect(unit).toContain('User=toss-shop_pv\nGroup=toss-shop_pv\n');
    expect(unit).toContain('WorkingDirectory=/srv/shop/pr-7/slots/%i\n');
    expect(unit).toContain(
      'ReadWritePaths=/srv/shop/pr-7/preserve /srv/shop/pr-7/cache /srv/shop/pr-7/slots/%i\n',
    );
    expect(buildUnitTemplate({ ...params, writableRelease: false })).toContain(
      'ReadWritePaths=/srv/shop/production/preserve /srv/shop/production/cache\n',
    );
    expect(unit).toContain('\nMemoryMax=512M\n');
    expect(unit).not.toMatch(/CPUQuota/);
    expect(buildUnitTemplate({ ...params, stopTimeoutSec: 5 })).toContain('TimeoutStopSec=5\n');
  });

  it('runs previews below production: lower weights, a higher OOM score', () => {
    const preview = buildUnitTemplate({ ...params, paths: envPaths('shop', 'pr-7') });
    expect(preview).toContain(
      'Slice=system.slice\nCPUWeight=20\nIOWeight=20\nOOMScoreAdjust=500\nNice=10\n',
    );
    // A preview's own limit (from the trusted configuration) wins over the default.
    expect(preview).toContain('\nMemoryMax=512M\nCPUQuota=150%\n');
    const named = buildUnitTemplate({
      ...params,
      paths: envPaths('shop', 'staging'),
      resources: { memory: '2G' },
    });
    expect(named).toContain('\nMemoryMax=2G\n');
    expect(named).toContain('CPUWeight=20\n');
    // Production has no memory limit unless toss.json sets one.
    const production = buildUnitTemplate({ ...params, resources: undefined });
    expect(production).not.toMatch(/MemoryMax/);
    expect(production).toContain('CPUWeight=100\nIOWeight=100\nOOMScoreAdjust=0\nNice=0\n');
  });

  it('refuses ports that are not ports', () => {
    expect(() => buildUnitTemplate({ ...params, ports: [3000, 70000] })).toThrow(/invalid port/);
  });

  it.each([[{ memory: '512MB' }], [{ memory: '1G\nExecStartPre=/bin/evil' }], [{ cpu: '50' }]])(
    'refuses the limit %j',
    (resources) => {
      expect(() => buildUnitTemplate({ ...params, resources })).toThrow(/invalid/);
    },
  );

  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  it.skipIf(!analyze)('scores at most 4.0 in systemd-analyze security', () => {
    const dir = mkdtempSync(join(tmpdir(), 'toss-unit-'));
    const file = join(dir, 'toss-shop-production@3000.service');
    writeFileSync(file, buildUnitTemplate(params));
    const out = spawnSync('systemd-analyze', ['security', '--offline=true', file], {
      encoding: 'utf8',
    });
    const score = /Overall exposure level for \S+: ([0-9.]+)/.exec(out.stdout)?.[1];
    expect(Number(score)).toBeLessThanOrEqual(4.0);
  });
});

describe('atEnvPriority', () => {
  it("leaves production's command as it is", () => {
    expect(atEnvPriority(true, 'npm start')).toBe('npm start');
  });

  it("runs a preview's command unchanged, as the same process, after its group's nice", () => {
    // Run by the real sh: quotes, arguments, variables and the exit status are the command's own,
    // and the command is exec'd (same pid as the wrapper).
    const command = `printf '%s|' "it's" "$HOME" "$$" 'a "b" \\c'; exit 7`;
    const run = spawnSync('/bin/sh', ['-c', `echo $$; ${atEnvPriority(false, command)}`], {
      encoding: 'utf8',
      env: { HOME: '/h', PATH: process.env.PATH },
    });
    const pid = run.stdout.split('\n')[0] as string;
    expect(run.stdout).toBe(`${pid}\nit's|/h|${pid}|a "b" \\c|`);
    expect(run.status).toBe(7);
  });
});

describe('systemd-run', () => {
  it('builds the generic command line', () => {
    expect(
      systemdRunArgv({
        unit: 'toss-run-shop-pr-1.service',
        user: 'toss-shop_pv',
        cwd: '/srv/shop/pr-1/releases/x',
        envFile: '/srv/shop/pr-1/env/x.env',
        env: { HOME: '/srv/shop/pr-1/cache' },
        properties: ['NoNewPrivileges=yes'],
        command: 'npm ci && echo "$HOME" $$',
      }),
    ).toEqual([
      'systemd-run',
      '--unit=toss-run-shop-pr-1.service',
      '--wait',
      '--pipe',
      '--collect',
      '--quiet',
      '--service-type=simple',
      '--uid=toss-shop_pv',
      '--gid=toss-shop_pv',
      '--working-directory=/srv/shop/pr-1/releases/x',
      '--setenv=HOME=/srv/shop/pr-1/cache',
      '--property=EnvironmentFile=/srv/shop/pr-1/env/x.env',
      '--property=NoNewPrivileges=yes',
      '--',
      '/bin/sh',
      '-c',
      'npm ci && echo "$$HOME" $$$$',
    ]);
  });

  it('refuses a bad variable name', () => {
    expect(() => systemdRunArgv({ unit: 'u', env: { 'A B': 'x' }, command: 'true' })).toThrow();
  });

  it('runs a deployScript command in the release, as the app user, confined as the app', () => {
    const argv = deployScriptRunArgv({
      paths: envPaths('shop', 'pr-1'),
      releaseId: ID,
      command: 'npm run build $HOME',
    });
    // The relay script, then the command ($ escaped for systemd), then systemd-run's options.
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    // A preview's command sets its scheduling group's nice first (atEnvPriority).
    expect(argv.slice(3, 5)).toEqual([
      'sh',
      "echo 10 >/proc/self/autogroup 2>/dev/null; exec /bin/sh -c 'npm run build $$HOME'",
    ]);
    const run = argv.slice(5);
    expect(run).toEqual([
      'systemd-run',
      '--unit=toss-run-shop-pr-1.service',
      '--wait',
      '--collect',
      '--service-type=simple',
      '--uid=toss-shop_pv',
      '--gid=toss-shop_pv',
      `--working-directory=/srv/shop/pr-1/releases/${ID}`,
      '--setenv=HOME=/srv/shop/pr-1/cache',
      `--property=EnvironmentFile=/srv/shop/pr-1/env/${ID}.env`,
      '--property=CPUWeight=20',
      '--property=IOWeight=20',
      '--property=OOMScoreAdjust=500',
      '--property=Nice=10',
      ...sandboxProperties({
        app: 'shop',
        readWritePaths: [
          `/srv/shop/pr-1/releases/${ID}`,
          '/srv/shop/pr-1/preserve',
          '/srv/shop/pr-1/cache',
        ],
      }).map((property) => `--property=${property}`),
    ]);
    // No descriptor of the root session: no --pipe, and the relay's FIFO as the only output.
    expect(run).not.toContain('--pipe');
    expect(argv[2]).toContain('StandardOutput=file:$dir/out');
    expect(run.join(' ')).not.toMatch(/RuntimeMaxSec|MemoryMax|CPUQuota/);
  });

  it('confines the build with every property of the app unit but its ports', () => {
    const app = buildUnitTemplate({
      paths: envPaths('shop', 'pr-1'),
      startCommand: 'npm start',
      ports: [3000, 3001],
    });
    const build = deployScriptRunArgv({
      paths: envPaths('shop', 'pr-1'),
      releaseId: ID,
      command: 'x',
    })
      .filter((arg) => arg.startsWith('--property='))
      .map((arg) => arg.slice('--property='.length));
    const names = (lines: string[]) => new Set(lines.map((line) => line.split('=')[0]));
    const appHardening = app
      .split('\n')
      .slice(app.split('\n').indexOf('UMask=0027'))
      .filter((line) => line.includes('=') && !line.startsWith('SocketBind'))
      .filter((line) => !line.startsWith('WantedBy') && !line.startsWith('ReadWritePaths'));
    for (const line of appHardening) expect(build).toContain(line);
    expect(names(build).has('ReadWritePaths')).toBe(true);
  });

  it.skipIf(spawnSync('systemd-analyze', ['--version']).status !== 0)(
    'scores no worse than the app unit in systemd-analyze security',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'toss-unit-'));
      const score = (name: string, text: string) => {
        const file = join(dir, name);
        writeFileSync(file, text);
        const out = spawnSync('systemd-analyze', ['security', '--offline=true', file], {
          encoding: 'utf8',
        });
        return Number(/Overall exposure level for \S+: ([0-9.]+)/.exec(out.stdout)?.[1]);
      };
      const app = score(
        'toss-shop-pr-1@3000.service',
        buildUnitTemplate({
          paths: envPaths('shop', 'pr-1'),
          startCommand: 'x',
          ports: [3000, 3001],
        }),
      );
      // The transient unit as systemd-run makes it from the options.
      const argv = deployScriptRunArgv({
        paths: envPaths('shop', 'pr-1'),
        releaseId: ID,
        command: 'x',
      });
      const build = score(
        'toss-run-shop-pr-1.service',
        [
          '[Service]',
          'Type=exec',
          'User=toss-shop_pv',
          'Group=toss-shop_pv',
          ...argv.filter((a) => a.startsWith('--property=')).map((a) => a.slice(11)),
          'ExecStart=/bin/sh -c x',
          '',
        ].join('\n'),
      );
      console.log(`systemd-analyze security (offline): app ${app}, build ${build}`);
      expect(app).toBeGreaterThan(0);
      expect(build).toBeGreaterThan(0);
      expect(build).toBeLessThanOrEqual(app);
    },
  );

  it("runs production's build at production's priority", () => {
    const argv = deployScriptRunArgv({
      paths: envPaths('shop', 'production'),
      releaseId: ID,
      command: 'x',
    });
    for (const property of ['CPUWeight=100', 'IOWeight=100', 'OOMScoreAdjust=0']) {
      expect(argv).toContain(`--property=${property}`);
    }
    expect(argv.join(' ')).not.toMatch(/MemoryMax/);
  });

  it.each([
    [
      { memory: '1G', cpu: '50%', timeoutSec: 600 },
      ['MemoryMax=1G', 'CPUQuota=50%', 'RuntimeMaxSec=600'],
    ],
    [{ timeoutSec: 5 }, ['RuntimeMaxSec=5']],
  ])('bounds the build by the trusted limits %j', (limits, properties) => {
    const argv = deployScriptRunArgv({
      paths: envPaths('shop', 'pr-1'),
      releaseId: ID,
      command: 'x',
      limits,
    });
    for (const property of properties) expect(argv).toContain(`--property=${property}`);
  });

  it.each([
    [{ memory: '1G\nExecStartPre=/bin/evil' }],
    [{ cpu: '50' }],
    [{ timeoutSec: 0 }],
    [{ timeoutSec: 1.5 }],
  ])('refuses the build limit %j', (limits) => {
    expect(() =>
      deployScriptRunArgv({
        paths: envPaths('shop', 'pr-1'),
        releaseId: ID,
        command: 'x',
        limits,
      }),
    ).toThrow(/invalid/);
  });

  it.each([
    [
      BUILD_TIMEOUT_EXIT,
      `${BUILD_TIMEOUT_MARKER}\n`,
      600,
      'deployScript[0] was stopped: it reached its time limit of 600 s',
      true,
    ],
    [BUILD_TIMEOUT_EXIT, '', 600, 'deployScript[0] failed (exit 124)', false],
    [3, `${BUILD_TIMEOUT_MARKER}\n`, undefined, 'deployScript[0] failed (exit 3)', false],
    [null, '', undefined, 'deployScript[0] failed (exit signal)', false],
  ])('explains exit %j with stderr %j', (code, stderr, limit, message, timedOut) => {
    expect(deployScriptFailure('deployScript[0]', code, stderr, limit)).toEqual({
      message,
      timedOut,
    });
  });

  it('runs a dependency as root in the production transient unit', () => {
    expect(dependencyRunArgv({ app: 'shop', command: 'apt-get install -y ffmpeg' })).toEqual([
      'systemd-run',
      '--unit=toss-run-shop-production.service',
      '--wait',
      '--pipe',
      '--collect',
      '--quiet',
      '--service-type=simple',
      '--working-directory=/',
      '--',
      '/bin/sh',
      '-c',
      'apt-get install -y ffmpeg',
    ]);
  });
});

describe('systemctl', () => {
  it.each([
    [
      stopInstanceArgv(envPaths('shop', 'production'), 3001),
      ['systemctl', 'stop', '--', 'toss-shop-production@3001.service'],
    ],
    [
      isActiveArgv(envPaths('shop', 'pr-2'), 3003),
      ['systemctl', 'is-active', '--quiet', '--', 'toss-shop-pr-2@3003.service'],
    ],
    [
      journalArgv({ paths: envPaths('shop', 'pr-2'), lines: 50, follow: true }),
      [
        'journalctl',
        '--no-pager',
        '--output=short-iso',
        '--unit=toss-shop-pr-2@*',
        '--lines=50',
        '--follow',
      ],
    ],
    [
      journalArgv({ paths: envPaths('shop', 'pr-2'), port: 3002 }),
      [
        'journalctl',
        '--no-pager',
        '--output=short-iso',
        '--unit=toss-shop-pr-2@3002.service',
        '--lines=100',
      ],
    ],
  ])('%j', (argv, expected) => {
    expect(argv).toEqual(expected);
  });

  it('stops the transient unit with values as arguments', () => {
    const stop = stopRunUnitArgv(envPaths('shop', 'pr-2'));
    expect(stop.slice(0, 2)).toEqual(['sh', '-c']);
    expect(stop.slice(3)).toEqual(['sh', 'toss-run-shop-pr-2.service', '/srv/shop/pr-2']);
  });
});

describe('stopRunUnitArgv on a name two apps can produce', () => {
  // shop/api-staging and shop-api/staging share `toss-run-shop-api-staging.service`.
  const run = (workingDirectory: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'toss-stop-run-'));
    const log = join(dir, 'calls');
    writeFileSync(
      join(dir, 'systemctl'),
      `#!/bin/sh\nif [ "$1" = show ]; then printf '%s\\n' "$WD"; exit 0; fi\necho "$*" >> "${log}"\n`,
      { mode: 0o755 },
    );
    const [cmd, ...args] = stopRunUnitArgv(envPaths('shop', 'api-staging')) as [
      string,
      ...string[],
    ];
    const result = spawnSync(cmd, args, {
      encoding: 'utf8',
      env: { PATH: `${dir}:/usr/bin:/bin`, WD: workingDirectory },
    });
    let calls = '';
    try {
      calls = readFileSync(log, 'utf8');
    } catch {}
    return { code: result.status, stderr: result.stderr, calls };
  };

  it("stops this environment's build", () => {
    const r = run('/srv/shop/api-staging/releases/20261128T000000Z-aaaa');
    expect(r.code).toBe(0);
    expect(r.calls).toContain('disable --now --quiet -- toss-run-shop-api-staging.service');
  });

  it("leaves another app's build alone, saying so", () => {
    const r = run('/srv/shop-api/staging/releases/20261128T000000Z-aaaa');
    expect(r.code).toBe(0);
    expect(r.calls).toBe('');
    expect(r.stderr).toContain('not this environment');
  });

  it('stops a unit systemd does not know (nothing to lose)', () => {
    expect(run('').calls).toContain('toss-run-shop-api-staging.service');
  });
});
