/** Boots one test host: overlay, netns + veth, own cgroup, nspawn; waits until SSH and Caddy are up. */
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupPlan, parseMemoryLimit } from './cgroups.js';
import { execInHost, findInit, startNspawn } from './container.js';
import { allocateLease, writeLease } from './lease.js';
import { setupNetwork } from './network.js';
import { hostNames } from './paths.js';
import { procId, runOk, waitFor } from './proc.js';
import { sshArgv, waitReady } from './ready.js';
import type { Image } from './recipe.js';
import { stopTracked, track } from './registry.js';
import { ensureRootfs, ensureTestKey, type TestKey } from './rootfs.js';
import type { TestHost } from './types.js';

export interface BootOptions {
  /** a fixed index (the CLI); default: the lowest free one */
  index?: number;
  /** give up after this long (default 120 s) */
  timeoutMs?: number;
  /** `bare`: no Caddy and no rsync, for provisioning tests (caCert is '' until Caddy runs) */
  image?: Image;
  /**
   * The whole host's memory limit, like "2G" or "512M", set from outside on its cgroup: the
   * host sees it as the limit of its own cgroup, as a container or a VPS sold as one does.
   */
  memoryLimit?: string;
}

function safePath(p: string): string {
  // Overlay options are comma/colon separated: such characters in a path would change their meaning.
  if (!/^[\w./-]+$/.test(p)) throw new Error(`toss-testhost: unsupported characters in path ${p}`);
  return p;
}

function uidOf(root: string, user: string): { uid: number; gid: number } {
  for (const line of readFileSync(join(root, 'etc/passwd'), 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === user) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error(`no user ${user} in the rootfs`);
}

/** Per-host files, written through the overlay into this host's upper dir before it boots. */
function personalise(merged: string, name: string, key: TestKey): void {
  writeFileSync(join(merged, 'etc/hostname'), `${name}\n`);
  writeFileSync(
    join(merged, 'etc/hosts'),
    `127.0.0.1\tlocalhost\n127.0.1.1\t${name}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
  );
  for (const [user, home] of [
    ['root', 'root'],
    ['deploy', 'home/deploy'],
  ] as const) {
    const path = join(merged, home, '.ssh/authorized_keys');
    writeFileSync(path, `${key.publicKey}\n`, { mode: 0o600 });
    const { uid, gid } = uidOf(merged, user);
    chownSync(path, uid, gid);
  }
}

/** What the host itself says went wrong, for the error message (the host is gone afterwards). */
async function diagnose(initPid: number): Promise<string> {
  const opts = { timeoutMs: 5000 };
  const failed = await execInHost(initPid, ['systemctl', '--failed', '--no-legend'], opts);
  const journal = await execInHost(
    initPid,
    ['journalctl', '-b', '-p', 'warning', '-n', '30', '--no-pager'],
    opts,
  );
  return `\nfailed units:\n${failed.stdout}\nwarnings:\n${journal.stdout}`;
}

export async function bootHost(options: BootOptions = {}): Promise<TestHost> {
  const image = options.image ?? 'default';
  const lower = safePath(await ensureRootfs(image));
  const key = await ensureTestKey();
  const timeoutMs = options.timeoutMs ?? 120_000;
  const lease = await allocateLease(options.index);
  track(lease);
  const n = hostNames(lease.index);
  try {
    const upper = safePath(join(lease.dir, 'upper'));
    const work = safePath(join(lease.dir, 'work'));
    safePath(lease.merged);
    for (const d of [upper, work, lease.merged]) mkdirSync(d, { recursive: true });
    await runOk([
      'mount',
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
      lease.merged,
    ]);
    personalise(lease.merged, n.name, key);
    await setupNetwork(lease.index);
    const memoryLimitBytes =
      options.memoryLimit === undefined ? undefined : parseMemoryLimit(options.memoryLimit);
    const plan = cgroupPlan(n.name, { memoryLimitBytes });
    lease.cgroups = plan.dirs;
    writeLease(lease);
    for (const d of plan.dirs) mkdirSync(d, { recursive: true });
    for (const w of plan.writes) writeFileSync(w.path, w.value);

    const started = Date.now();
    const nspawnPid = startNspawn({
      name: n.name,
      merged: lease.merged,
      netns: n.netns,
      cgroups: plan,
      logPath: join(lease.dir, 'nspawn.log'),
    });
    lease.nspawn = procId(nspawnPid);
    writeLease(lease);
    const initPid = await waitFor(
      'the host PID 1 (see nspawn.log)',
      30_000,
      () => {
        if (!procId(nspawnPid))
          throw new Error(
            `systemd-nspawn exited: ${readFileSync(join(lease.dir, 'nspawn.log'), 'utf8').slice(-2000)}`,
          );
        return findInit(nspawnPid);
      },
      20,
    );
    lease.init = procId(initPid);
    writeLease(lease);

    const ready = await waitReady(lease, initPid, n.guestAddr, key, timeoutMs, {
      caddy: image !== 'bare',
    });
    const bootMs = Date.now() - started;
    const knownHostsLine = ready.knownHostsLines.find((l) => l.includes(' ssh-ed25519 ')) as string;
    const host: TestHost = {
      name: n.name,
      index: lease.index,
      ip: n.guestAddr,
      port: 22,
      users: { root: { name: 'root' }, deploy: { name: 'deploy' } },
      keyPath: key.keyPath,
      key: key.key,
      knownHostsLine,
      knownHostsLines: ready.knownHostsLines,
      knownHostsPath: ready.knownHostsPath,
      caCert: ready.caCert,
      caCertPath: ready.caCertPath,
      hostVeth: n.hostVeth,
      bootMs,
      exec: (argv, opts) => execInHost(initPid, argv, opts),
      sshArgv: (user, ...command) =>
        sshArgv(
          { ip: n.guestAddr, port: 22, keyPath: key.keyPath, knownHostsPath: ready.knownHostsPath },
          user,
          command,
        ),
      shutdown: () => stopTracked(lease),
    };
    return host;
  } catch (e) {
    const diagnosis = lease.init ? await diagnose(lease.init.pid).catch(() => '') : '';
    await stopTracked(lease).catch(() => {});
    throw new Error(
      `toss-testhost: booting ${n.name} failed: ${(e as Error).message}${diagnosis}`,
      {
        cause: e,
      },
    );
  }
}

/** Boot n hosts in parallel; if one fails, the others are shut down too. */
export async function bootHosts(
  n: number,
  options: Omit<BootOptions, 'index'> = {},
): Promise<TestHost[]> {
  await ensureRootfs(options.image);
  const results = await Promise.allSettled(Array.from({ length: n }, () => bootHost(options)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const hosts = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (failed) {
    await Promise.allSettled(hosts.map((h) => h.shutdown()));
    throw failed.reason;
  }
  return hosts;
}
