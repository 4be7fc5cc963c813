// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the workflow's ${{ }} are GitHub expressions
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { renderSummary } from '../../src/cli/init-summary.js';
import { buildConfigText, buildWorkflowText } from '../../src/config/init-files.js';
import { SCHEMA_ID } from '../../src/config/json-schema.js';
import { ConfigError } from '../../src/errors.js';
import {
  assertSupportedOs,
  installPackagesArgv,
  parseOsRelease,
  parseProbe,
} from '../../src/server/provision.js';

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
      'package caddy no\npackage rsync yes\ncaddy-enabled no\ncaddy-active no\nuser yes\nuser no\nlayout no\nstate no\n',
    );
    expect(snapshot).toEqual({
      missingPackages: ['caddy'],
      caddyEnabled: false,
      caddyActive: false,
      usersPresent: false,
      layoutOk: false,
      stateExists: false,
    });
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
