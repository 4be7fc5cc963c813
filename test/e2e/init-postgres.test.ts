/**
 * `toss init` and PostgreSQL: on a bare Debian host (packages only from a local repository
 * served from this machine), an app without `database` gets no PostgreSQL; once toss.json has
 * `database`, init installs Debian's postgresql, whose cluster then runs with peer
 * authentication on the local socket; a re-run changes nothing; a stopped, disabled cluster is
 * started and enabled again.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, inHost, makeApp, type TossRun, toss } from './support/app.js';
import { ensureAptRepo, type ServedRepo, serveAptRepo } from './support/apt-repo.js';
import { PG_SOCKET_DIR, psqlAs, waitForPostgres } from './support/postgres.js';

let bare: TestHost;
let repo: ServedRepo | undefined;
let app: AppCheckout;
let knownHosts: string;

beforeAll(async () => {
  const [bares, repoDir] = await Promise.all([bootHosts(1, { image: 'bare' }), ensureAptRepo()]);
  [bare] = bares as [TestHost];
  repo = await serveAptRepo(bare, repoDir);
  app = await makeApp(bare, { app: 'notes' });
  knownHosts = join(mkdtempSync(join(tmpdir(), 'toss-init-pg-kh-')), 'known_hosts');
  writeFileSync(knownHosts, '');
}, 900_000);
afterAll(async () => {
  await Promise.allSettled([bare?.shutdown(), repo?.close()]);
});

/** `toss init --yes`, everything else from toss.json. */
function init(): Promise<TossRun> {
  return toss(bare, ['init', '--yes', '--force'], {
    cwd: app.dir,
    env: { TOSS_KNOWN_HOSTS: knownHosts },
  });
}

/** dpkg's view of postgresql on the host: `installed` or '' when it never was. */
async function postgresqlStatus(): Promise<string> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template
  const r = await bare.exec(['dpkg-query', '-W', '-f=${db:Status-Status}', 'postgresql']);
  return r.code === 0 ? r.stdout : '';
}

describe('toss init and PostgreSQL on a bare server', () => {
  it('installs no PostgreSQL for an app without database', async () => {
    const r = await init();
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toMatch(/installed caddy, rsync(?!, postgresql)/);
    expect(await postgresqlStatus()).toBe('');
    expect((await bare.exec(['test', '-e', PG_SOCKET_DIR])).code).not.toBe(0);
  });

  it('installs postgresql from the local repository once toss.json has database; its cluster runs', async () => {
    app.configure({ database: { engine: 'postgres', seed: 'db/seed.sql' } });
    const started = Date.now();
    const r = await init();
    const seconds = (Date.now() - started) / 1000;
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain('installed postgresql');
    expect(r.stdout).not.toContain('installed caddy');
    console.log(`init installing postgresql from the local repository: ${seconds.toFixed(1)} s`);

    expect(await postgresqlStatus()).toBe('installed');
    // Debian's package made and started the cluster: init found it running and left it alone.
    await waitForPostgres(bare, 5_000);
    expect(await inHost(bare, ['pg_lsclusters', '-h'])).toMatch(
      /^15 main 5432 online postgres \/var\/lib\/postgresql\/15\/main /,
    );
    expect(await inHost(bare, ['systemctl', 'is-enabled', 'postgresql'])).toBe('enabled\n');
    expect(await inHost(bare, ['systemctl', 'is-active', 'postgresql@15-main'])).toBe('active\n');
    const version = await psqlAs(bare, 'postgres', 'SELECT version();');
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^PostgreSQL 15\.\d+ /);
    // What every database toss makes from template0 inherits: UTF-8, not SQL_ASCII.
    const encoding = await psqlAs(
      bare,
      'postgres',
      "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'template0';",
    );
    expect(encoding.stdout).toBe('UTF8\n');
    // Peer authentication on the socket: root has no role, and no password is asked for.
    const asRoot = await bare.exec(['psql', '-X', '-h', PG_SOCKET_DIR, '-d', 'postgres', '-c', '']);
    expect(asRoot.code).not.toBe(0);
    expect(asRoot.stderr).toContain('role "root" does not exist');
  });

  it('a second init changes nothing', async () => {
    const before = await inHost(bare, ['systemctl', 'show', '-p', 'MainPID', 'postgresql@15-main']);
    const r = await init();
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain(
      'Nothing to change: the server and the files are as toss init leaves them.',
    );
    expect(r.stdout).toMatch(/Install packages.* done in [\d.]+s \(already installed\)/);
    expect(r.stdout).not.toMatch(
      /installed (caddy|rsync|postgresql)|PostgreSQL at boot|started Post/,
    );
    // The same server process: not restarted.
    expect(await inHost(bare, ['systemctl', 'show', '-p', 'MainPID', 'postgresql@15-main'])).toBe(
      before,
    );
  });

  it('starts a stopped cluster and enables PostgreSQL at boot again; then nothing to change', async () => {
    await inHost(bare, ['systemctl', 'disable', '--quiet', 'postgresql']);
    await inHost(bare, ['systemctl', 'stop', 'postgresql@15-main']);
    expect((await bare.exec(['pg_isready', '-h', PG_SOCKET_DIR])).code).not.toBe(0);

    const r = await init();
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain('enabled PostgreSQL at boot');
    expect(r.stdout).toContain('started PostgreSQL 15/main');
    expect((await bare.exec(['pg_isready', '-h', PG_SOCKET_DIR])).code).toBe(0);
    expect(await inHost(bare, ['systemctl', 'is-enabled', 'postgresql'])).toBe('enabled\n');

    const again = await init();
    expect(again.code, again.output).toBe(0);
    expect(again.stdout).toContain('Nothing to change');
  });

  it('makes a cluster when there is none (one dropped, or never created)', async () => {
    await inHost(bare, ['pg_dropcluster', '--stop', '15', 'main']);
    expect(await inHost(bare, ['pg_lsclusters', '-h'])).toBe('');

    const r = await init();
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain('created the PostgreSQL cluster 15/main');
    expect(r.stdout).toContain('started PostgreSQL 15/main');
    expect(await inHost(bare, ['pg_lsclusters', '-h'])).toMatch(/^15 main 5432 online /);
    const encoding = await psqlAs(
      bare,
      'postgres',
      "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'template0';",
    );
    expect(encoding.stdout).toBe('UTF8\n');
  });
});
