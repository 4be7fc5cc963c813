/**
 * `npm run demo`: toss end to end on this machine, no VPS needed. Boots one throwaway Debian server
 * (systemd-nspawn, through the test harness), deploys examples/hello to production and to a preview
 * (pr-1) with the real CLI bundle, fetches both over verified HTTPS, then keeps the server up until
 * Ctrl-C. With --no-wait, CI=true or no terminal on stdin it tears down right after and exits.
 *
 * Needs root on Debian/Ubuntu (missing packages are installed); the first run builds the server
 * image (~2–3 min), later runs boot in seconds.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bootHost, checkPrerequisites, ensureRootfs } from '../test/e2e/harness/index.js';
import { lowerRoot } from '../test/e2e/harness/paths.js';
import { recipeHash } from '../test/e2e/harness/recipe.js';
import type { TestHost } from '../test/e2e/harness/types.js';
import { fetchSite, makeApp, sslipName } from '../test/e2e/support/app.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/cli/index.js');
const ENVIRONMENTS = ['production', 'pr-1'] as const;

const argv = process.argv.slice(2);
const wait =
  !argv.includes('--no-wait') && process.env.CI !== 'true' && Boolean(process.stdin.isTTY);
const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: string, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const say = (text: string) => console.log(`${paint('1;36', '▸')} ${text}`);
const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// Temp dirs go on every way out, Ctrl-C included (the harness tears the host down itself).
const tempDirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
};
const removeTempDirs = () => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
};
let interrupted = false;
process.on('exit', () => {
  removeTempDirs();
  if (interrupted) console.log('Stopped and cleaned up.');
});
process.once('SIGINT', () => {
  interrupted = true;
  console.log(`\n${paint('1;36', '▸')} Stopping the server…`);
});

/** The real CLI bundle as a child process, its output straight to this terminal. */
function toss(host: TestHost, cwd: string, args: string[]): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: tempDir('toss-demo-home-'),
        TOSS_KNOWN_HOSTS: host.knownHostsPath,
        TOSS_SSH_KEY: host.keyPath,
        ...(process.env.TERM ? { TERM: process.env.TERM } : {}),
        ...(process.env.NO_COLOR ? { NO_COLOR: process.env.NO_COLOR } : {}),
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise(code ?? 1));
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  say('Checking prerequisites (root, systemd-nspawn, mmdebstrap, rsync, ssh, …)');
  checkPrerequisites();
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);

  if (!existsSync(join(lowerRoot(), `rootfs-${recipeHash()}`))) {
    say('Building the test server image — first run only, takes ~2–3 min');
    await ensureRootfs();
  }
  say('Booting a throwaway Debian server (systemd, sshd, Caddy) in systemd-nspawn');
  const host = await bootHost();
  try {
    console.log(`  ${host.name} is up at ${host.ip} (${seconds(host.bootMs)})`);
    const app = await makeApp(host);
    tempDirs.push(app.dir);
    console.log(`  examples/hello checked out in ${app.dir}, toss.json → root@${host.ip}`);

    for (const env of ENVIRONMENTS) {
      say(`toss deploy ${env}`);
      const code = await toss(host, app.dir, ['deploy', env]);
      if (code !== 0) throw new Error(`toss deploy ${env} exited ${code}`);
    }

    console.log(`\n${paint('1', 'Live, HTTPS verified against the server’s Caddy CA:')}`);
    for (const env of ENVIRONMENTS) {
      const name = sslipName(host, 'hello', env);
      const page = await fetchSite(host, name);
      const ok = page.status === 200;
      console.log(
        `  ${env.padEnd(11)} https://${name}/  →  ${paint(ok ? '32' : '31', String(page.status))} ${JSON.stringify(page.body.trim())}`,
      );
      console.log(
        paint(
          '2',
          `              curl --cacert ${q(host.caCertPath)} --resolve ${name}:443:${host.ip} https://${name}/`,
        ),
      );
      if (!ok) throw new Error(`https://${name}/ answered ${page.status}, not 200`);
    }
    console.log(`\nDemo ready in ${seconds(Date.now() - started)}.`);

    if (wait) {
      console.log(
        `The server stays up: try the curl commands, or ${host.sshArgv('root').map(q).join(' ')}\n` +
          'Press Ctrl-C to stop it and clean up.',
      );
      // The harness's SIGINT handler shuts the host down and exits; this only keeps us alive.
      setInterval(() => {}, 1 << 30);
      await new Promise(() => {});
    }
  } finally {
    say('Tearing down the server');
    await host.shutdown();
    removeTempDirs();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`\n${paint('31', 'demo failed:')} ${(error as Error).message ?? error}`);
    process.exit(1);
  },
);
