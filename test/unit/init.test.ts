// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the workflow's ${{ }} are GitHub expressions
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { registerInit } from '../../src/cli/commands/init.js';
import { renderSummary } from '../../src/cli/init-summary.js';
import {
  type BuildPlace,
  buildConfigText,
  buildWorkflowText,
  defaultBuildPlace,
  defaultCommands,
  type InitAnswers,
  parseExistingConfig,
  projectCommands,
  runnerNeedsNode,
} from '../../src/config/init-files.js';
import { SCHEMA_ID } from '../../src/config/json-schema.js';
import { parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { type InitResult, initServer } from '../../src/pipeline/init.js';
import {
  assertSupportedOs,
  databasePackages,
  ensurePostgresArgv,
  installPackagesArgv,
  parseOsRelease,
  parseProbe,
  probeArgv,
  REQUIRED_PACKAGES,
  requiredPackages,
} from '../../src/server/provision.js';

// The server side of init, replaced: these tests run the command's questions and files only.
vi.mock('../../src/pipeline/init.js', () => ({
  initServer: vi.fn(
    async (): Promise<Partial<InitResult>> => ({
      hostKey: {
        keyType: 'ssh-ed25519',
        blob: Buffer.alloc(0),
        fingerprint: 'SHA256:test',
        line: '203.0.113.10 ssh-ed25519 AAAA',
        source: 'known-hosts',
      },
      changes: [],
    }),
  ),
}));
vi.mock('../../src/cli/context.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../src/cli/context.js')>()),
  resolveServer: vi.fn(async (server: string) => ({
    alias: server,
    host: '203.0.113.10',
    port: 22,
    user: 'root',
    knownHosts: '',
    knownHostsFile: '/nonexistent/known_hosts',
  })),
}));

const answers = {
  server: 'root@203.0.113.10',
  app: 'shop',
  startCommand: 'node server.js',
  deployScript: ['npm ci', 'npm run build'],
};

describe('toss.json from the wizard', () => {
  it('puts $schema and the answers first and keeps the fields it does not ask about', () => {
    const text = buildConfigText(
      { ...answers, domain: 'shop.example' },
      { app: 'old', tls: 'internal', healthCheck: { path: '/up' } },
    );
    expect(Object.keys(JSON.parse(text))).toEqual([
      '$schema',
      'app',
      'server',
      'domain',
      'startCommand',
      'deployScript',
      'tls',
      'healthCheck',
    ]);
    expect(JSON.parse(text)).toMatchObject({ $schema: SCHEMA_ID, app: 'shop', tls: 'internal' });
  });

  it('never writes a file deploy would refuse', () => {
    expect(() => buildConfigText({ ...answers, app: 'Bad_Name' })).toThrow(ConfigError);
  });
});

/** package.json of a project with a build script, with a lockfile beside it. */
const BUILT_PROJECT = projectCommands(
  JSON.stringify({ scripts: { build: 'tsc -p .', start: 'node dist/server.js' } }),
  true,
);
const PLAIN_PROJECT = projectCommands(undefined, false);

/**
 * What init does with no flags and no typed answers (`--yes`): the place and the commands default
 * from the existing toss.json, else from the project.
 */
function answersFromDefaults(
  existing: Record<string, unknown>,
  project = BUILT_PROJECT,
): InitAnswers {
  const place = defaultBuildPlace(existing, project);
  const defaults = defaultCommands(place, existing, project);
  return {
    server: answers.server,
    app: answers.app,
    startCommand: answers.startCommand,
    build: place === 'runner' ? defaults.build : undefined,
    deployScript: defaults.deployScript ?? [],
  };
}

describe('where toss.json builds', () => {
  const runner = { ...answers, build: ['npm ci', 'npm run build'], deployScript: [] };

  it('a runner build writes build and no deployScript, and deploy reads it back', () => {
    const text = buildConfigText(runner);
    expect(Object.keys(JSON.parse(text))).toEqual([
      '$schema',
      'app',
      'server',
      'startCommand',
      'build',
    ]);
    const config = parseConfigText(text);
    expect(config.build).toEqual(['npm ci', 'npm run build']);
    expect(config.deployScript).toEqual([]);
  });

  it('a runner build keeps the commands the server runs after the upload', () => {
    const text = buildConfigText({ ...runner, deployScript: ['node migrate.js'] });
    expect(Object.keys(JSON.parse(text)).slice(-2)).toEqual(['build', 'deployScript']);
    expect(parseConfigText(text).deployScript).toEqual(['node migrate.js']);
  });

  it('a server build writes deployScript and replaces the build an earlier init wrote', () => {
    const text = buildConfigText(answers, { build: ['npm ci'], cache: ['~/.npm'] });
    const config = parseConfigText(text);
    expect(config.build).toBeUndefined();
    expect(config.deployScript).toEqual(['npm ci', 'npm run build']);
    expect(config.cache).toEqual(['~/.npm']); // a field init does not ask about survives
  });

  it('refuses a build command deploy would refuse', () => {
    expect(() => buildConfigText({ ...runner, build: ['  '] })).toThrow(ConfigError);
  });

  it.each<[string, InitAnswers]>([
    ['runner', { ...runner, deployScript: ['node migrate.js'] }],
    ['server', answers],
  ])(
    'running init again on a %s build offers what it wrote and writes the same text',
    (_, given) => {
      // The project alone would suggest the other place for one of the two: the file wins.
      const first = buildConfigText(given, { tls: 'internal' });
      const existing = parseExistingConfig(first);
      for (const project of [BUILT_PROJECT, PLAIN_PROJECT]) {
        const again = answersFromDefaults(existing, project);
        expect(again.build).toEqual(given.build);
        expect(again.deployScript).toEqual(given.deployScript);
        expect(buildConfigText(again, existing)).toBe(first);
      }
    },
  );
});

describe('what init offers', () => {
  it('reads package.json: install, build, then only the runtime dependencies on the runner', () => {
    expect(BUILT_PROJECT).toEqual({
      start: 'node dist/server.js',
      serverScript: ['npm ci', 'npm run build'],
      runnerBuild: ['npm ci', 'npm run build', 'npm prune --omit=dev'],
      hasBuildStep: true,
      usesNode: true,
    });
    expect(projectCommands(JSON.stringify({ scripts: { start: 'next start' } }), false)).toEqual({
      start: 'npm start',
      serverScript: ['npm install'],
      runnerBuild: ['npm install --omit=dev'],
      hasBuildStep: false,
      usesNode: true,
    });
    expect(PLAIN_PROJECT).toEqual({ hasBuildStep: false, usesNode: false });
    expect(projectCommands('{ not json', true)).toEqual(PLAIN_PROJECT);
  });

  it.each<[string, Record<string, unknown>, ReturnType<typeof projectCommands>, BuildPlace]>([
    ['a new Node project with a build', {}, BUILT_PROJECT, 'runner'],
    ['a new project with a lockfile only', {}, projectCommands('{}', true), 'runner'],
    ['a new project with nothing to install', {}, projectCommands('{}', false), 'server'],
    ['a new project without package.json', {}, PLAIN_PROJECT, 'server'],
    ['a toss.json that builds on the runner', { build: ['make'] }, PLAIN_PROJECT, 'runner'],
    [
      'a toss.json that builds on the server',
      { deployScript: ['npm ci'] },
      BUILT_PROJECT,
      'server',
    ],
  ])('suggests where to build for %s', (_, existing, project, place) => {
    expect(defaultBuildPlace(existing, project)).toBe(place);
  });

  it('moving a server build to the runner offers the guess and no deployScript', () => {
    const existing = { deployScript: ['npm install', 'npm run build'] };
    expect(defaultCommands('runner', existing, BUILT_PROJECT)).toEqual({
      build: ['npm ci', 'npm run build', 'npm prune --omit=dev'],
      deployScript: undefined,
    });
  });

  it('moving a runner build to the server offers its commands, then the deployScript', () => {
    const existing = { build: ['npm ci', 'npm run build'], deployScript: ['node migrate.js'] };
    expect(defaultCommands('server', existing, PLAIN_PROJECT)).toEqual({
      deployScript: ['npm ci', 'npm run build', 'node migrate.js'],
    });
  });
});

describe('toss init --yes in a repository', () => {
  let repo: string;

  beforeEach(() => {
    repo = mkdtempSync(join(tmpdir(), 'toss-init-unit-'));
    execFileSync('git', ['init', '-q', '-b', 'main', repo]);
    execFileSync('git', ['-C', repo, 'remote', 'add', 'origin', 'https://github.com/octo/shop']);
    writeFileSync(
      join(repo, 'package.json'),
      JSON.stringify({ scripts: { build: 'tsc -p .', start: 'node dist/server.js' } }),
    );
    writeFileSync(join(repo, 'package-lock.json'), '{}');
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    rmSync(repo, { recursive: true, force: true });
  });

  async function init(
    ...flags: string[]
  ): Promise<{ config: Record<string, unknown>; workflow: string }> {
    const program = new Command().exitOverride();
    registerInit(program);
    const base = ['init', '--yes', '--server', 'root@203.0.113.10', '--app', 'shop'];
    await program.parseAsync([...base, '-c', join(repo, 'toss.json'), ...flags], { from: 'user' });
    return {
      config: JSON.parse(readFileSync(join(repo, 'toss.json'), 'utf8')),
      workflow: readFileSync(join(repo, '.github/workflows/toss.yml'), 'utf8'),
    };
  }
  const files = () =>
    ['toss.json', '.github/workflows/toss.yml'].map((f) => readFileSync(join(repo, f), 'utf8'));

  it('builds a Node project with a build on the runner, with the Node version .nvmrc names', async () => {
    writeFileSync(join(repo, '.nvmrc'), '18\n');
    const { config, workflow } = await init();
    expect(config).toMatchObject({
      startCommand: 'node dist/server.js',
      build: ['npm ci', 'npm run build', 'npm prune --omit=dev'],
    });
    expect(config).not.toHaveProperty('deployScript');
    expect(parseYaml(workflow).jobs.deploy.steps[1]).toEqual({
      uses: 'actions/setup-node@v4',
      with: { 'node-version-file': '.nvmrc' },
    });
    const before = files();
    await init();
    expect(files()).toEqual(before);
  });

  it('--deploy-script alone builds on the server, and a second run keeps it there', async () => {
    const { config, workflow } = await init('--start', 'npm start', '--deploy-script', 'npm ci');
    expect(config.deployScript).toEqual(['npm ci']);
    expect(config).not.toHaveProperty('build');
    expect(workflow).not.toContain('setup-node');
    const before = files();
    await init();
    expect(files()).toEqual(before);
  });

  it('--build-on runner moves a server build to the runner; migrations stay with --deploy-script', async () => {
    await init('--deploy-script', 'npm ci', '--force');
    const { config, workflow } = await init(
      '--build-on',
      'runner',
      '--deploy-script',
      'node migrate.js',
      '--force',
    );
    expect(config).toMatchObject({
      build: ['npm ci', 'npm run build', 'npm prune --omit=dev'],
      deployScript: ['node migrate.js'],
    });
    expect(parseYaml(workflow).jobs.deploy.steps[1].with).toEqual({ 'node-version': 'lts/*' });
    // toss.json now builds on the runner: --deploy-script alone keeps it there.
    const again = await init('--deploy-script', 'node migrate.js');
    expect(again.config).toEqual(config);
  });

  it('--build names the commands; with --build-on server it is refused before anything is written', async () => {
    const { config } = await init('--build', 'make', '--build', 'make install DESTDIR=out');
    expect(config.build).toEqual(['make', 'make install DESTDIR=out']);
    mkdirSync(join(repo, 'other'));
    await expect(
      init('--build-on', 'server', '--build', 'make', '-c', join(repo, 'other/toss.json')),
    ).rejects.toThrow(/--build runs commands where toss runs/);
    expect(() => readFileSync(join(repo, 'other/toss.json'))).toThrow();
  });

  it("provisions for toss.json's database: passed to the server side, kept in the file", async () => {
    const database = { engine: 'postgres', seed: 'db/seed.sql' };
    writeFileSync(
      join(repo, 'toss.json'),
      JSON.stringify({
        app: 'shop',
        server: 'root@203.0.113.10',
        startCommand: 'gunicorn app:app',
        deployScript: ['python3 db/migrate.py'],
        database,
      }),
    );
    const { config } = await init('--force');
    expect(config.database).toEqual(database);
    expect(vi.mocked(initServer).mock.lastCall?.[0].database).toEqual(database);

    rmSync(join(repo, 'toss.json'));
    await init('--start', 'node server.js', '--deploy-script', 'npm ci');
    expect(vi.mocked(initServer).mock.lastCall?.[0].database).toBeUndefined();
  });
});

describe('the GitHub workflow', () => {
  it('deploys the default branch, previews PRs incl. closed, sweeps daily, least permissions', () => {
    const wf = parseYaml(buildWorkflowText({ defaultBranch: 'trunk' }));
    expect(wf.on.push.branches).toEqual(['trunk']);
    expect(wf.on.pull_request.types).toContain('closed');
    expect(wf.on.schedule[0].cron).toBe('17 4 * * *');
    expect(wf.concurrency).toEqual({
      group: 'toss-${{ github.event.pull_request.number || github.ref }}',
      'cancel-in-progress': false,
    });
    expect(wf.permissions).toEqual({
      contents: 'read',
      'pull-requests': 'write',
      deployments: 'write',
    });
    expect(wf.jobs.deploy.steps[1].with).toEqual({
      'ssh-key': '${{ secrets.TOSS_SSH_KEY }}',
      'known-hosts': '${{ secrets.TOSS_KNOWN_HOSTS }}',
      environment: '${{ inputs.environment }}',
    });
  });

  it('quotes odd branch names and sets working-directory for a toss.json below the root', () => {
    const wf = parseYaml(
      buildWorkflowText({ defaultBranch: 'release: 1', workingDirectory: 'apps/web' }),
    );
    expect(wf.on.push.branches).toEqual(['release: 1']);
    expect(wf.jobs.deploy.steps[1].with['working-directory']).toBe('apps/web');
  });

  it('a runner build of a Node project installs Node first, from .nvmrc when there is one', () => {
    const server = parseYaml(buildWorkflowText({ defaultBranch: 'main' }));
    const pinned = parseYaml(
      buildWorkflowText({ defaultBranch: 'main', setupNode: { versionFile: 'apps/web/.nvmrc' } }),
    );
    const latest = parseYaml(buildWorkflowText({ defaultBranch: 'main', setupNode: {} }));
    expect(pinned.jobs.deploy.steps[1]).toEqual({
      uses: 'actions/setup-node@v4',
      with: { 'node-version-file': 'apps/web/.nvmrc' },
    });
    expect(latest.jobs.deploy.steps[1]).toEqual({
      uses: 'actions/setup-node@v4',
      with: { 'node-version': 'lts/*' },
    });
    for (const wf of [pinned, latest]) {
      expect(wf.jobs.deploy.steps.map((s: { uses: string }) => s.uses)).toEqual([
        'actions/checkout@v4',
        'actions/setup-node@v4',
        'toss/deploy@v1',
      ]);
      // The rest of the workflow is the server build's.
      expect(wf.jobs.deploy.steps[2]).toEqual(server.jobs.deploy.steps[1]);
      expect({ ...wf, jobs: undefined }).toEqual({ ...server, jobs: undefined });
    }
  });

  it.each<[string, Pick<InitAnswers, 'build'>, ReturnType<typeof projectCommands>, boolean]>([
    ['a runner build of a Node project', { build: ['npm ci'] }, BUILT_PROJECT, true],
    ['a runner build running npm without package.json', { build: ['npm ci'] }, PLAIN_PROJECT, true],
    ['a runner build of something else', { build: ['make release'] }, PLAIN_PROJECT, false],
    ['a server build of a Node project', { build: undefined }, BUILT_PROJECT, false],
  ])('sets up Node for %s: %s', (_, given, project, expected) => {
    const needsNode = runnerNeedsNode(given, project);
    expect(needsNode).toBe(expected);
    const text = buildWorkflowText({
      defaultBranch: 'main',
      setupNode: needsNode ? {} : undefined,
    });
    expect(text.includes('actions/setup-node')).toBe(expected);
  });

  it.each([
    ['main', "github.ref == 'refs/heads/main'"],
    ["it's: #1", "github.ref == 'refs/heads/it''s: #1'"],
  ])(
    'the commented secrets example, uncommented, passes production values on pushes to %j only',
    (branch, ref) => {
      const text = buildWorkflowText({ defaultBranch: branch }).replace('# secrets:', 'secrets:');
      const value = parseYaml(text).jobs.deploy.steps[1].with.secrets as string;
      expect(value).toBe(
        `\${{ github.event_name == 'push' && ${ref} && secrets.PRODUCTION_ENV || '' }}`,
      );
    },
  );
});

describe('provisioning builders', () => {
  it.each([
    ['ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"', true],
    ['ID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 24.04 LTS"', true],
    ['ID=linuxmint\nID_LIKE="ubuntu debian"', true],
    ['ID="fedora"\nPRETTY_NAME="Fedora Linux 40"', false],
    ['ID=alpine', false],
  ])('os-release %j supported: %s', (text, ok) => {
    const check = () => assertSupportedOs(parseOsRelease(text));
    if (ok) expect(check).not.toThrow();
    else expect(check).toThrow(/Nothing was changed/);
  });

  it('refuses a system without /etc/os-release', () => {
    expect(() => assertSupportedOs(undefined)).toThrow(/without \/etc\/os-release/);
  });

  it('reads the probe', () => {
    const snapshot = parseProbe(
      'package caddy no\npackage rsync yes\ncaddy-enabled no\ncaddy-active no\npostgres-enabled no\npostgres-ready no\nuser yes\nuser no\nlayout no\nstate no\n',
    );
    expect(snapshot).toEqual({
      missingPackages: ['caddy'],
      caddyEnabled: false,
      caddyActive: false,
      postgresEnabled: false,
      postgresReady: false,
      usersPresent: false,
      layoutOk: false,
      stateExists: false,
    });
  });

  it('needs PostgreSQL only for a toss.json with database, and says so in one place', () => {
    const database = { engine: 'postgres' as const };
    expect(databasePackages({})).toEqual([]);
    expect(databasePackages({ database })).toEqual(['postgresql']);
    expect(requiredPackages({})).toEqual([...REQUIRED_PACKAGES]);
    expect(requiredPackages({ database: { ...database, seed: 'db/seed.sql' } })).toEqual([
      'caddy',
      'rsync',
      'postgresql',
    ]);
  });

  it('probes the packages it is given, as parameters after the fixed ones', () => {
    const packages = requiredPackages({ database: { engine: 'postgres' } });
    const argv = probeArgv('shop', packages);
    expect(argv.slice(-5)).toEqual(['/var/run/postgresql', '5432', 'caddy', 'rsync', 'postgresql']);
    expect(argv[2]).not.toContain('postgresql\n');
    expect(argv[2]).toContain('shift 4\n');
    expect(() => probeArgv('shop', ['postgresql;reboot'])).toThrow(/invalid package name/);
    expect(probeArgv('shop')).toEqual(probeArgv('shop', REQUIRED_PACKAGES));
  });

  it('reads PostgreSQL from the probe and refuses an answer about other packages', () => {
    const packages = ['caddy', 'rsync', 'postgresql'];
    const rest = 'caddy-enabled yes\ncaddy-active yes\nuser yes\nuser yes\nlayout yes\nstate yes\n';
    const snapshot = parseProbe(
      `package caddy yes\npackage rsync yes\npackage postgresql no\npostgres-enabled yes\npostgres-ready no\n${rest}`,
      packages,
    );
    expect(snapshot).toMatchObject({
      missingPackages: ['postgresql'],
      postgresEnabled: true,
      postgresReady: false,
    });
    // A probe of caddy and rsync only cannot stand for one that was asked about PostgreSQL.
    expect(() => parseProbe(`package caddy yes\npackage rsync yes\n${rest}`, packages)).toThrow(
      /could not read the server's state/,
    );
  });

  it('starts PostgreSQL with the socket and port as parameters, waiting for it', () => {
    const argv = ensurePostgresArgv();
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(3)).toEqual(['sh', '/var/run/postgresql', '5432']);
    expect(argv[2]).not.toContain('/var/run/postgresql');
    expect(argv[2]).toContain('pg_isready -q -h "$socket_dir" -p "$port"');
  });

  it('passes package names as parameters, never in the script', () => {
    const argv = installPackagesArgv(['caddy', 'rsync']);
    expect(argv.slice(3)).toEqual(['sh', 'caddy', 'rsync']);
    expect(argv[2]).not.toContain('caddy');
    expect(() => installPackagesArgv(['caddy; rm -rf /'])).toThrow();
  });
});

describe('the closing screen', () => {
  it('lists the apex and wildcard preview records, the key line, the secrets and the next command', () => {
    const text = renderSummary({
      app: 'shop',
      domain: 'shop.example',
      serverIp: '203.0.113.10',
      knownHostsLine: '203.0.113.10 ssh-ed25519 AAAA',
      knownHostsFile: '/home/me/.ssh/known_hosts',
      recordedKey: true,
      loginTarget: 'root@203.0.113.10',
      serverChanges: ['installed caddy'],
      files: [{ path: 'toss.json', outcome: 'created' }],
    });
    expect(text).toMatch(/shop\.example\.\s+A\s+203\.0\.113\.10/);
    expect(text).toMatch(/\*\.preview\.shop\.example\.\s+A\s+203\.0\.113\.10/);
    expect(text).toContain('  203.0.113.10 ssh-ed25519 AAAA\n');
    expect(text).toContain('TOSS_SSH_KEY');
    expect(text).toContain('TOSS_KNOWN_HOSTS');
    expect(text).toContain('toss deploy production');
  });
});
