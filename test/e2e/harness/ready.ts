/** Waiting for a booted host to be usable: systemd up, sshd taking the test key, Caddy's CA made. */
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { execInHost } from './container.js';
import type { Lease } from './lease.js';
import { hostNames } from './paths.js';
import { run, waitFor } from './proc.js';
import type { TestKey } from './rootfs.js';

const CA_PATH = '/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt';
const HOST_KEY_TYPES = ['ed25519', 'ecdsa', 'rsa'];

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 1000 });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.once('timeout', () => done(false));
  });
}

// No user config, agent or global known_hosts: only the test key and this host's own keys count.
const SSH_OPTIONS = [
  'IdentitiesOnly=yes',
  'IdentityAgent=none',
  'BatchMode=yes',
  'StrictHostKeyChecking=yes',
  'GlobalKnownHostsFile=/dev/null',
  'ConnectTimeout=10',
  'LogLevel=ERROR',
];

export function sshArgv(
  o: { ip: string; port: number; keyPath: string; knownHostsPath: string },
  user: string,
  command: string[],
): string[] {
  const options = [...SSH_OPTIONS, `UserKnownHostsFile=${o.knownHostsPath}`];
  return [
    'ssh',
    ...['-F', '/dev/null', '-i', o.keyPath, '-p', String(o.port)],
    ...options.flatMap((opt) => ['-o', opt]),
    `${user}@${o.ip}`,
    ...(command.length > 0 ? ['--', ...command] : []),
  ];
}

export async function waitReady(
  lease: Lease,
  initPid: number,
  ip: string,
  key: TestKey,
  timeoutMs: number,
  options: { caddy: boolean } = { caddy: true },
): Promise<{
  knownHostsLines: string[];
  knownHostsPath: string;
  caCert: string;
  caCertPath: string;
}> {
  const exec = (argv: string[]) => execInHost(initPid, argv, { timeoutMs: 30_000 });
  const stop = new AbortController();

  const systemd = waitFor(
    'systemd to finish booting',
    timeoutMs,
    async () => {
      const r = await exec(['systemctl', 'is-system-running', '--wait']);
      const state = r.stdout.trim();
      if (state === 'running') return state;
      if (state === 'degraded') {
        const failed = await exec(['systemctl', '--failed', '--no-legend', '--plain']);
        console.warn(
          `toss-testhost: ${hostNames(lease.index).name} is degraded:\n${failed.stdout}`,
        );
        return state;
      }
      return undefined;
    },
    100,
    stop.signal,
  );

  const ssh = (async () => {
    await waitFor(
      'sshd to listen on port 22',
      timeoutMs,
      async () => ((await tcpOpen(ip, 22)) ? true : undefined),
      50,
      stop.signal,
    );
    const lines: string[] = [];
    for (const type of HOST_KEY_TYPES) {
      const pub = await runInHostOk(exec, ['cat', `/etc/ssh/ssh_host_${type}_key.pub`]);
      const [alg, blob] = pub.trim().split(/\s+/);
      lines.push(`${ip} ${alg} ${blob}`);
    }
    const knownHostsPath = join(lease.dir, 'known_hosts');
    writeFileSync(knownHostsPath, `${lines.join('\n')}\n`);
    const opts = { ip, port: 22, keyPath: key.keyPath, knownHostsPath };
    await waitFor(
      'an ssh key login as root',
      timeoutMs,
      async () => {
        const r = await run(sshArgv(opts, 'root', ['true']), { timeoutMs: 15_000 });
        if (r.code !== 0) throw new Error(r.stderr.trim());
        return true;
      },
      100,
      stop.signal,
    );
    return { knownHostsLines: lines, knownHostsPath };
  })();

  // A bare host has no Caddy yet: no CA to wait for.
  const ca = !options.caddy
    ? Promise.resolve('')
    : waitFor(
        `Caddy's local CA (${CA_PATH})`,
        timeoutMs,
        async () => {
          const r = await exec(['cat', CA_PATH]);
          return r.code === 0 && r.stdout.includes('END CERTIFICATE') ? r.stdout : undefined;
        },
        100,
        stop.signal,
      );

  const [, sshInfo, caCert] = await Promise.all([systemd, ssh, ca]).catch((e: unknown) => {
    stop.abort();
    throw e;
  });
  if (caCert === '') return { ...sshInfo, caCert, caCertPath: '' };
  const caCertPath = join(lease.dir, 'caddy-root.crt');
  writeFileSync(caCertPath, caCert);
  return { ...sshInfo, caCert, caCertPath };
}

async function runInHostOk(
  exec: (argv: string[]) => Promise<{ stdout: string; stderr: string; code: number }>,
  argv: string[],
): Promise<string> {
  const r = await exec(argv);
  if (r.code !== 0)
    throw new Error(`${argv.join(' ')} in host exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}
