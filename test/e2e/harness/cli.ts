/**
 * Test hosts by hand. Foreground by design: `up` keeps the host for as long as it runs, and Ctrl-C
 * (or `down N` from another terminal, or a crash) tears it down — nothing is left detached.
 *
 *   npm run testhost -- up [N]   boot host N (default: lowest free index), print how to reach it
 *   npm run testhost -- up [N] --memory 2G   the same, the whole host limited to 2 GiB of memory
 *   npm run testhost -- down N   stop host N (signals the `up` that owns it; reclaims it if that died)
 *   npm run testhost -- list     hosts and their owners
 *   npm run testhost -- sweep    reclaim hosts whose owner process is gone
 *   npm run testhost -- build    build and extract the rootfs only
 *
 * Needs root (see checkPrerequisites).
 */
import { existsSync } from 'node:fs';
import { bootHost, checkPrerequisites, ensureRootfs, sweepStale } from './index.js';
import { listLeaseDirs, readLease } from './lease.js';
import { hostNames } from './paths.js';
import { isAlive, killQuiet, sleep } from './proc.js';
import { shuttingDown } from './registry.js';

// Quote only what needs it, so the printed commands can be pasted into a shell.
const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

function parseIndex(arg: string | undefined): number | undefined {
  if (arg === undefined) return undefined;
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 1 || n > 254)
    throw new Error(`host index must be 1–254, got ${arg}`);
  return n;
}

async function up(index: number | undefined, memoryLimit: string | undefined): Promise<void> {
  checkPrerequisites();
  const host = await bootHost({ index, ...(memoryLimit === undefined ? {} : { memoryLimit }) });
  const n = hostNames(host.index);
  const init = readLease(n.dir)?.init?.pid;
  console.log(`
${host.name} is up (ready ${(host.bootMs / 1000).toFixed(1)} s after start)
  ip           ${host.ip}   (this machine: ${n.hostAddr} on ${host.hostVeth})
  ssh root     ${host.sshArgv('root').map(q).join(' ')}
  ssh deploy   ${host.sshArgv('deploy').map(q).join(' ')}
  key          ${host.keyPath}
  known_hosts  ${host.knownHostsPath}
  Caddy CA     ${host.caCertPath}
  https check  curl --cacert ${q(host.caCertPath)} --resolve harness.test:443:${host.ip} https://harness.test/
  root shell   nsenter --target=${init} --all -- bash -l   (no ssh)

Ctrl-C (or \`npm run testhost -- down ${host.index}\`) powers it off and cleans up.`);
  // Keep the process (and so the host) alive; also notice a host powered off from inside.
  for (;;) {
    await sleep(1000);
    if (!shuttingDown() && !isAlive(readLease(n.dir)?.nspawn)) {
      console.error(`${host.name} stopped by itself; cleaning up`);
      await host.shutdown();
      process.exit(1);
    }
  }
}

async function down(index: number): Promise<void> {
  const { dir, name } = hostNames(index);
  const lease = readLease(dir);
  if (!lease) throw new Error(`no host ${name}`);
  if (isAlive(lease.owner)) {
    killQuiet(lease.owner.pid, 'SIGTERM');
    for (let i = 0; i < 300 && existsSync(dir); i++) await sleep(100);
    if (existsSync(dir))
      throw new Error(`${name}: owner ${lease.owner.pid} did not clean up in 30 s`);
  } else {
    await sweepStale();
  }
  console.log(`${name} is down`);
}

function list(): void {
  for (const { index, dir } of listLeaseDirs()) {
    const l = readLease(dir);
    const state = l && isAlive(l.owner) ? `owner pid ${l.owner.pid}` : 'stale (owner gone)';
    console.log(`${hostNames(index).name}\t${hostNames(index).guestAddr}\t${state}`);
  }
}

/** `up`'s arguments: an optional index and an optional `--memory SIZE`, in either order. */
function upArgs(args: string[]): { index: number | undefined; memoryLimit: string | undefined } {
  const at = args.indexOf('--memory');
  const memoryLimit = at === -1 ? undefined : args[at + 1];
  if (at !== -1 && memoryLimit === undefined)
    throw new Error('usage: testhost up [N] [--memory 2G]');
  const rest = at === -1 ? args : [...args.slice(0, at), ...args.slice(at + 2)];
  return { index: parseIndex(rest[0]), memoryLimit };
}

async function main(argv: string[]): Promise<void> {
  const [cmd, arg] = argv;
  switch (cmd) {
    case 'up': {
      const { index, memoryLimit } = upArgs(argv.slice(1));
      return up(index, memoryLimit);
    }
    case 'down': {
      const index = parseIndex(arg);
      if (index === undefined) throw new Error('usage: testhost down N');
      return down(index);
    }
    case 'list':
      return list();
    case 'sweep':
      checkPrerequisites();
      return sweepStale();
    case 'build':
      console.log(await ensureRootfs());
      return;
    default:
      throw new Error('usage: testhost up [N] [--memory 2G] | down N | list | sweep | build');
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
