import { parse as dotenvParse } from 'dotenv';
import { describe, expect, it } from 'vitest';
import { renderListing, renderReleases } from '../../src/cli/render-status.js';
import { renderTable } from '../../src/cli/table.js';
import { formatDotenv, parseDotenv } from '../../src/config/dotenv.js';
import { ConfigError } from '../../src/errors.js';
import { isAbandonedLock, listingOf, lockStatusOf } from '../../src/pipeline/inspect.js';
import { chooseRollbackTarget, keptReleases } from '../../src/pipeline/rollback.js';
import { findDrift } from '../../src/server/drift.js';
import { parseInventory, parseSystemctlShow } from '../../src/server/inventory.js';
import type { Lock } from '../../src/server/lock.js';
import { emptyRegistry } from '../../src/server/registry.js';
import { enterShellCommand, interactiveSshArgv } from '../../src/server/shell.js';
import { type EnvironmentState, emptyState, type State } from '../../src/server/state.js';

const R1 = '20261101T100000Z-aaaa';
const R2 = '20261102T100000Z-bbbb';
const R3 = '20261103T100000Z-cccc';

function env(fields: Partial<EnvironmentState> = {}): EnvironmentState {
  return {
    ports: [3000, 3001],
    livePort: 3000,
    release: R2,
    previousRelease: R1,
    releases: [R1, R2],
    commit: '0123456789abcdef0123456789abcdef01234567',
    deployedAt: '2026-11-02T10:00:00.000Z',
    by: 'Test (laptop)',
    ...fields,
  };
}

function state(environments: Record<string, EnvironmentState>): State {
  return { ...emptyState('hello'), environments };
}

describe('renderTable', () => {
  it('keeps every line within the width, cutting the widest flexible column first', () => {
    const rows = [
      ['production', `https://${'x'.repeat(80)}.example.com/`, '3000', R1, 'abc1234', 'active'],
      ['pr-3', 'https://short/', '3002', R2, 'def5678', 'failed'],
    ];
    const text = renderTable(
      [
        { header: 'ENVIRONMENT' },
        { header: 'URL', min: 10 },
        { header: 'PORT' },
        { header: 'RELEASE' },
        { header: 'COMMIT' },
        { header: 'SERVICE' },
      ],
      rows,
      100,
    );
    const lines = text.split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(100);
    expect(lines[1]).toContain('…');
    expect(lines[1]).toContain(R1);
    expect(lines[2]).toContain('https://short/');
    expect(lines[0]!.indexOf('PORT')).toBe(lines[1]!.indexOf('3000'));
  });

  it('leaves a table that fits as it is', () => {
    expect(renderTable([{ header: 'A' }, { header: 'BB' }], [['1', '2']], 100)).toBe('A  BB\n1  2');
  });

  it('renders the list of long sslip names within 100 columns, every URL whole', () => {
    const listing = listingOf(
      'a-rather-long-app-name',
      state({
        production: env({ by: 'Someone With A Long Name (a-very-long-hostname.local)' }),
        'pr-12345': env(),
      }),
      {},
      (name) => `https://${name}.a-rather-long-app-name.203-0-113-100.sslip.io/`,
    );
    const text = renderListing(listing.environments, new Date('2026-11-02T10:05:00Z'), 100);
    for (const line of text.split('\n')) expect([...line].length).toBeLessThanOrEqual(100);
    expect(text).toContain('5 min ago');
    for (const e of listing.environments) expect(text).toContain(e.url!);
  });
});

describe('listingOf (toss list --json)', () => {
  it('has a stable shape: production first, absent values null, the live unit state', () => {
    const listing = listingOf(
      'hello',
      state({ 'pr-3': env({ pr: 3, livePort: 3003, ports: [3002, 3003] }), production: env() }),
      { 'toss-hello-production@3000.service': 'active', 'toss-hello-pr-3@3003.service': 'failed' },
      (name) => `https://${name}.example.com/`,
    );
    expect(listing).toEqual({
      version: 1,
      app: 'hello',
      environments: [
        {
          name: 'production',
          url: 'https://production.example.com/',
          ports: [3000, 3001],
          livePort: 3000,
          release: R2,
          previousRelease: R1,
          releases: [R1, R2],
          commit: '0123456789abcdef0123456789abcdef01234567',
          deployedAt: '2026-11-02T10:00:00.000Z',
          by: 'Test (laptop)',
          runUrl: null,
          branch: null,
          pr: null,
          service: 'active',
          database: null,
        },
        expect.objectContaining({ name: 'pr-3', pr: 3, livePort: 3003, service: 'failed' }),
      ],
    });
  });

  it("names an environment's database when PostgreSQL lists it", () => {
    const listing = listingOf(
      'hello',
      state({ production: env(), 'pr-3': env({ pr: 3 }) }),
      {},
      () => null,
      ['toss_hello_production', 'toss_hello__seed_abc'],
    );
    expect(listing.environments.map((e) => e.database)).toEqual(['toss_hello_production', null]);
  });

  it('says unknown for an instance systemctl did not report', () => {
    const listing = listingOf('hello', state({ production: env() }), {}, () => null);
    expect(listing.environments[0]?.service).toBe('unknown');
    expect(listing.environments[0]?.url).toBeNull();
  });
});

describe('findDrift', () => {
  const inventory = (fields: Partial<Parameters<typeof findDrift>[0]['inventory']> = {}) => ({
    unitTemplates: ['toss-hello-production@.service', 'toss-hello-pr-3@.service'],
    siteFiles: ['hello-production.caddy', 'hello-pr-3.caddy'],
    secretKeys: { production: 2, preview: 1 },
    services: {
      'toss-hello-production@3000.service': 'active',
      'toss-hello-pr-3@3002.service': 'active',
    },
    ...fields,
  });
  const twoEnvs = state({
    production: env(),
    'pr-3': env({ ports: [3002, 3003], livePort: 3002 }),
  });

  it('finds nothing when state and server agree', () => {
    expect(findDrift({ app: 'hello', state: twoEnvs, inventory: inventory() })).toEqual([]);
  });

  it('reports a database no environment has, with the command that drops it', () => {
    const warnings = findDrift({
      app: 'hello',
      state: twoEnvs,
      inventory: inventory(),
      databases: [
        'toss_hello_production',
        'toss_hello_pr-3',
        // Templates are nobody's environment and never drift.
        `toss_hello__seed_${'a'.repeat(46)}`,
        'toss_hello_pr-9',
      ],
    });
    expect(warnings).toEqual([
      {
        kind: 'database-orphan',
        environment: null,
        message: 'database toss_hello_pr-9 belongs to no environment of hello',
        fix: 'toss remove pr-9',
      },
    ]);
    const kept = findDrift({
      app: 'hello',
      state: state({ 'pr-3': env({ ports: [3002, 3003], livePort: 3002 }) }),
      inventory: inventory({ unitTemplates: ['toss-hello-pr-3@.service'] }),
      databases: ['toss_hello_production'],
    }).filter((w) => w.kind === 'database-orphan');
    expect(kept.map((w) => w.fix)).toEqual(['toss remove production --force --drop-database']);
  });

  it('names the deploy that repairs a missing unit template or site', () => {
    const warnings = findDrift({
      app: 'hello',
      state: twoEnvs,
      inventory: inventory({
        unitTemplates: ['toss-hello-production@.service'],
        siteFiles: ['hello-production.caddy'],
      }),
    });
    expect(warnings.map((w) => [w.kind, w.environment, w.fix])).toEqual([
      ['unit-missing', 'pr-3', 'toss deploy pr-3'],
      ['site-missing', 'pr-3', 'toss deploy pr-3'],
    ]);
    expect(warnings[0]?.message).toContain('/etc/systemd/system/toss-hello-pr-3@.service');
  });

  it('names a process that holds an environment port instead of its instance', () => {
    const listeners = new Map([
      [3000, [{ pid: 812, user: 'toss-hello_pv', unit: 'squat.service', command: 'node' }]],
      [3003, [{ pid: 99, user: 'mallory', unit: 'session-4.scope', command: 'python3' }]],
    ]);
    const warnings = findDrift({ app: 'hello', state: twoEnvs, inventory: inventory(), listeners });
    expect(warnings.map((w) => [w.kind, w.environment, w.fix])).toEqual([
      [
        'port-taken',
        'production',
        'systemctl stop squat.service (as root on the server), then toss deploy production',
      ],
      [
        'port-taken',
        'pr-3',
        'systemctl stop session-4.scope (as root on the server), then toss deploy pr-3',
      ],
    ]);
    expect(warnings[0]?.message).toBe(
      "port 3000 of production is held by pid 812 (node) of user toss-hello_pv in squat.service, not by toss's toss-hello-production@3000.service: Caddy sends this environment's traffic there",
    );
    // The idle port: nothing is routed there yet, but the next deploy would be refused.
    expect(warnings[1]?.message).not.toContain('Caddy sends');
  });

  it('names the remove that clears a unit or a site without state', () => {
    const warnings = findDrift({
      app: 'hello',
      state: state({ production: env() }),
      inventory: inventory({
        unitTemplates: ['toss-hello-production@.service', 'toss-hello-pr-3@.service'],
        siteFiles: ['hello-production.caddy', 'hello-pr-3.caddy', 'hello-pr-9.caddy'],
      }),
    });
    expect(warnings.map((w) => [w.kind, w.environment, w.fix])).toEqual([
      ['unit-without-state', 'pr-3', 'toss remove pr-3'],
      ['site-without-unit', 'pr-9', 'toss remove pr-9'],
    ]);
  });

  it('ignores the units of another app whose name starts with this one', () => {
    const registry = emptyRegistry();
    registry.apps['hello-api'] = {
      environments: {
        production: {
          ports: [3010, 3011],
          hostNames: ['api.example.com'],
          units: [
            'toss-hello-api-production@.service',
            'toss-run-hello-api-production.service',
            '/etc/caddy/toss/hello-api-production.caddy',
          ],
        },
      },
    };
    const warnings = findDrift({
      app: 'hello',
      state: state({ production: env() }),
      registry,
      inventory: inventory({
        unitTemplates: ['toss-hello-api-production@.service', 'toss-hello-production@.service'],
        siteFiles: ['hello-api-production.caddy', 'hello-production.caddy'],
      }),
    });
    expect(warnings).toEqual([]);
  });

  it('warns about failed or stopped services and empty secrets of a class in use', () => {
    const warnings = findDrift({
      app: 'hello',
      state: twoEnvs,
      inventory: inventory({
        secretKeys: { production: 0, preview: null },
        services: {
          'toss-hello-production@3000.service': 'failed',
          'toss-hello-pr-3@3002.service': 'inactive',
        },
      }),
    });
    expect(warnings.map((w) => [w.kind, w.environment, w.fix])).toEqual([
      ['service-failed', 'production', 'toss rollback production'],
      ['service-inactive', 'pr-3', 'toss deploy pr-3'],
      ['secrets-empty', null, 'toss secrets push production --file .env.production'],
      ['secrets-empty', null, 'toss secrets push preview --file .env.preview'],
    ]);
  });
});

describe('inventory parsing', () => {
  it('reads the sections of the inventory command', () => {
    const stdout = [
      '[units]',
      'toss-hello-production@.service',
      '[sites]',
      'hello-production.caddy',
      '[secrets]',
      'production 3',
      'preview absent',
      '[overrides]',
      'production.env',
      '[services]',
      'toss-hello-production@3000.service loaded active   running hello production',
      'toss-hello-pr-3@3002.service       loaded failed   failed  hello pr-3',
      'toss-wake-hello-pr-4@3004.socket   loaded active   listening toss hello pr-4: wakes on port 3004',
      '',
    ].join('\n');
    // A unit systemd did not list is not loaded: inactive (pr-4's instance sleeps).
    const requested = [
      'toss-hello-production@3000.service',
      'toss-hello-pr-3@3002.service',
      'toss-hello-pr-4@3004.service',
      'toss-wake-hello-pr-4@3004.socket',
    ];
    expect(parseInventory(stdout, requested)).toEqual({
      unitTemplates: ['toss-hello-production@.service'],
      siteFiles: ['hello-production.caddy'],
      secretKeys: { production: 3, preview: null },
      overrideFiles: ['production.env'],
      services: {
        'toss-hello-production@3000.service': 'active',
        'toss-hello-pr-3@3002.service': 'failed',
        'toss-hello-pr-4@3004.service': 'inactive',
        'toss-wake-hello-pr-4@3004.socket': 'active',
      },
    });
    expect(parseInventory('[services]\n').services).toEqual({});
    expect(parseSystemctlShow('')).toEqual({});
  });
});

describe('rollback targets', () => {
  const e = env({ release: R3, previousRelease: R2, releases: [R1, R2, R3] });

  it('keeps only releases still on disk, marking live and previous', () => {
    expect(keptReleases(e, [R2, R3, '20261104T100000Z-dddd'])).toEqual([
      { id: R2, live: false, previous: true },
      { id: R3, live: true, previous: false },
    ]);
  });

  it('goes to the newest kept release older than the live one, or the one named', () => {
    const kept = keptReleases(e, [R1, R2, R3]);
    expect(chooseRollbackTarget('production', e, kept, undefined)).toBe(R2);
    expect(chooseRollbackTarget('production', e, kept, R1)).toBe(R1);
    const rolledBack = env({ release: R2, previousRelease: R3, releases: [R1, R2, R3] });
    expect(chooseRollbackTarget('production', rolledBack, kept, undefined)).toBe(R1);
  });

  it('refuses the oldest, the live one and unknown ids, listing what it can go to', () => {
    const atOldest = env({ release: R1, previousRelease: R2, releases: [R1, R2] });
    const kept = keptReleases(atOldest, [R1, R2]);
    expect(() => chooseRollbackTarget('production', atOldest, kept, undefined)).toThrow(
      `${R1} is the oldest kept release of production: there is nothing older to roll back to; it can be rolled back to: ${R2}`,
    );
    expect(() => chooseRollbackTarget('production', atOldest, kept, R1)).toThrow('already live');
    expect(() =>
      chooseRollbackTarget('production', atOldest, kept, '20200101T000000Z-0000'),
    ).toThrow(`can be rolled back to: ${R2}`);
  });

  it('lists releases with their marks', () => {
    expect(
      renderReleases('production', [
        { id: R1, live: false, previous: true },
        { id: R2, live: true, previous: false },
      ]),
    ).toBe(`${R1}  previous\n${R2}  live\n`);
  });
});

describe('dotenv files', () => {
  const text = [
    '# comment',
    '',
    'A=plain',
    'B="say \\"hi\\" = yes"',
    'C=\'single "double" # not a comment\'',
    'export D = a=b=c  # comment',
    'E=`back\'tick"`',
    'F="line one',
    'line two"',
    'G=',
  ].join('\n');

  it('reads what dotenv reads', () => {
    expect(Object.fromEntries(parseDotenv(text))).toEqual(dotenvParse(text));
    expect(parseDotenv(text).get('D')).toBe('a=b=c');
  });

  it('writes what dotenv and toss read back unchanged', () => {
    const entries = parseDotenv(text);
    const written = formatDotenv(entries, 'pulled');
    expect(written.startsWith('# pulled\n')).toBe(true);
    expect(dotenvParse(written)).toEqual(dotenvParse(text));
    expect(parseDotenv(written)).toEqual(entries);
    const hard = new Map([['X', `'"\`\\n all three and a backslash-n`]]);
    expect(() => formatDotenv(hard)).toThrow(ConfigError);
  });

  it('names the line of every line dotenv would skip silently', () => {
    const bad = 'A=1\nnot an assignment\n1X=2\nA=3\nB="open\n';
    let error: unknown;
    try {
      parseDotenv(bad, '.env');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      '.env: line 2: expected KEY=VALUE',
      '.env: line 3: invalid name before =: use letters, digits and _, not starting with a digit',
      '.env: line 4: A is already set on line 1',
      '.env: line 5: the " quote opened here is never closed',
    ]);
    expect(() => parseDotenv('A="x" trailing\n')).toThrow('line 1: unexpected text');
  });
});

describe('toss ssh command line', () => {
  it('enters the release through a fixed script with the directory as a parameter', () => {
    expect(enterShellCommand('/srv/hello/production/current', false)).toBe(
      `sh -c 'cd -P -- "$1" && exec "\${SHELL:-/bin/sh}" -l' sh /srv/hello/production/current`,
    );
    expect(enterShellCommand("/srv/it's", true)).toBe(
      `sudo -n -- sh -c 'cd -P -- "$1" && exec "\${SHELL:-/bin/sh}" -l' sh '/srv/it'\\''s'`,
    );
  });

  it('runs the system ssh with only the verified key and a terminal', () => {
    const argv = interactiveSshArgv({
      user: 'deploy',
      host: '203.0.113.10',
      port: 2222,
      identityFile: '/home/me/.ssh/id_ed25519',
      knownHostsFile: '/tmp/toss-ssh-x/known_hosts',
      hostKeyAlias: 'toss-server',
      command: 'true',
    });
    expect(argv.slice(0, 3)).toEqual(['ssh', '-F', '/dev/null']);
    expect(argv).toContain('StrictHostKeyChecking=yes');
    expect(argv).toContain('UserKnownHostsFile=/tmp/toss-ssh-x/known_hosts');
    expect(argv).toContain('HostKeyAlias=toss-server');
    expect(argv).toContain('IdentitiesOnly=yes');
    expect(argv.slice(-6)).toEqual(['-t', '-l', 'deploy', '--', '203.0.113.10', 'true']);
  });
});

describe('lock status', () => {
  const now = new Date('2026-11-02T10:00:00Z');
  const lock: Lock = {
    environment: 'pr-3',
    token: 'b'.repeat(32),
    host: 'runner',
    pid: 42,
    startedAt: '2026-11-02T09:59:00.000Z',
    heartbeatAt: '2026-11-02T09:59:50.000Z',
    by: 'octocat',
    runUrl: 'https://ci/run/1',
  };

  it('shows the holder without its token', () => {
    const status = lockStatusOf(lock, now)!;
    expect(status).toEqual({
      environment: 'pr-3',
      by: 'octocat',
      host: 'runner',
      machine: null,
      pid: 42,
      startedAt: '2026-11-02T09:59:00.000Z',
      heartbeatAt: '2026-11-02T09:59:50.000Z',
      runUrl: 'https://ci/run/1',
      stale: false,
      description:
        'octocat on runner (pid 42), deploying pr-3, started 1 min ago, run https://ci/run/1',
    });
    expect(JSON.stringify(status)).not.toContain(lock.token);
    expect(lockStatusOf(null, now)).toBeNull();
  });

  it('lets a stale lock go without --force, never a live one elsewhere', () => {
    expect(isAbandonedLock(lock, now, 'laptop')).toBeUndefined();
    expect(isAbandonedLock(lock, new Date('2026-11-02T10:05:00Z'), 'laptop')).toContain('stale');
  });
});
