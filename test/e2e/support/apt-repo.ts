/**
 * Packages for a host without a route out: a flat apt repository of .debs downloaded on this
 * machine (caddy, rsync, postgresql and what they depend on), served over HTTP on this machine's
 * side of the host's veth, the only address the host can reach.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { withDirLock } from '../harness/dir-lock.js';
import { cacheDir } from '../harness/paths.js';
import type { TestHost } from '../harness/types.js';

const run = promisify(execFile);

/**
 * What a bare host lacks for `toss init` (postgresql for an app with a database); with their
 * dependency closure (installed ones are skipped by apt).
 */
const PACKAGES = ['caddy', 'rsync', 'postgresql'];

async function dependencyClosure(packages: string[]): Promise<string[]> {
  const { stdout } = await run('apt-cache', [
    'depends',
    '--recurse',
    '--no-recommends',
    '--no-suggests',
    '--no-conflicts',
    '--no-breaks',
    '--no-replaces',
    '--no-enhances',
    ...packages,
  ]);
  // Unindented lines are packages; `<virtual>` names are provided by one of the real ones.
  const names = stdout.split('\n').filter((l) => /^[a-z0-9][a-z0-9+.-]*(:[a-z0-9]+)?$/.test(l));
  return [...new Set(names.map((n) => n.replace(/:.*$/, '')))].sort();
}

/** The repository directory (built once, cached beside the rootfs). */
export async function ensureAptRepo(): Promise<string> {
  const dir = join(cacheDir(), `apt-repo-${PACKAGES.join('-')}`);
  if (existsSync(join(dir, 'Release'))) return dir;
  mkdirSync(dir, { recursive: true });
  await withDirLock(`${dir}.lock`, async () => {
    if (existsSync(join(dir, 'Release'))) return;
    const names = await dependencyClosure(PACKAGES);
    await run('apt-get', ['download', ...names], { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
    const { stdout } = await run('dpkg-scanpackages', ['--multiversion', '.', '/dev/null'], {
      cwd: dir,
      maxBuffer: 64 * 1024 * 1024,
    });
    writeFileSync(join(dir, 'Packages'), stdout);
    const sha = createHash('sha256').update(stdout).digest('hex');
    writeFileSync(
      join(dir, 'Release'),
      `Origin: toss-test\nLabel: toss-test\nDate: ${new Date().toUTCString()}\nSHA256:\n ${sha} ${Buffer.byteLength(stdout)} Packages\n`,
    );
  });
  return dir;
}

export interface ServedRepo {
  url: string;
  close(): Promise<void>;
}

/** Serves the repository on 10.213.N.1 and makes it the host's only apt source. */
export async function serveAptRepo(host: TestHost, dir: string): Promise<ServedRepo> {
  const server = createServer((req, res) => {
    const name = basename(decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/'));
    const file = join(dir, name);
    if (!name || name.startsWith('.') || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': statSync(file).size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  const address = `10.213.${host.index}.1`;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, resolve);
  });
  const url = `http://${address}:${(server.address() as AddressInfo).port}/`;
  const script = `set -eu
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
echo "deb [trusted=yes] $1 ./" >/etc/apt/sources.list.d/toss-test.list`;
  const r = await host.exec(['sh', '-c', script, 'sh', url]);
  if (r.code !== 0) throw new Error(`pointing apt at ${url} failed: ${r.stderr}`);
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The CA Caddy made on the host (after init installed it and a `tls internal` site exists). */
export async function readCaddyCa(host: TestHost): Promise<string> {
  const r = await host.exec([
    'cat',
    '/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt',
  ]);
  if (r.code !== 0) throw new Error(`no Caddy CA on ${host.name}: ${r.stderr}`);
  return r.stdout;
}
