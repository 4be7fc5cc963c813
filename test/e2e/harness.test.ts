/** The harness itself: two real hosts at once, each with systemd, sshd, sudo and Caddy's own CA. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';

const execFileP = promisify(execFile);

let hosts: TestHost[] = [];
let scratch: string;

/** System ssh with strict checking against a known_hosts holding only the host's ed25519 line. */
async function ssh(host: TestHost, user: string, ...command: string[]): Promise<string> {
  const knownHosts = join(scratch, `${host.name}.known_hosts`);
  writeFileSync(knownHosts, `${host.knownHostsLine}\n`);
  const { stdout } = await execFileP('ssh', [
    '-F',
    '/dev/null',
    '-i',
    host.keyPath,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'IdentityAgent=none',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'HostKeyAlgorithms=ssh-ed25519',
    `${user}@${host.ip}`,
    '--',
    ...command,
  ]);
  return stdout;
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'toss-harness-test-'));
  hosts = await bootHosts(2);
  for (const h of hosts) console.log(`${h.name} (${h.ip}) ready in ${h.bootMs} ms`);
});

afterAll(async () => {
  await Promise.all(hosts.map((h) => h.shutdown()));
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('test hosts', () => {
  it('boots two distinct hosts', () => {
    expect(hosts).toHaveLength(2);
    const [a, b] = hosts as [TestHost, TestHost];
    expect(a.index).not.toBe(b.index);
    expect(a.ip).toBe(`10.213.${a.index}.2`);
    expect(a.knownHostsLine).toMatch(/^10\.213\.\d+\.2 ssh-ed25519 AAAA\S+$/);
    expect(a.knownHostsLines).toHaveLength(3);
  });

  it('runs systemd as PID 1 with every unit up', async () => {
    for (const h of hosts) {
      const state = await h.exec(['systemctl', 'is-system-running']);
      if (state.stdout.trim() !== 'running') {
        const failed = await h.exec(['systemctl', '--failed', '--no-legend']);
        console.warn(`${h.name}: ${state.stdout.trim()}; failed units:\n${failed.stdout}`);
      }
      expect(state.stdout.trim()).toBe('running');
      expect((await h.exec(['cat', '/proc/1/comm'])).stdout.trim()).toBe('systemd');
    }
  });

  it('exec passes argv verbatim and stdin, without a shell', async () => {
    const h = hosts[0] as TestHost;
    const odd = `$(touch /tmp/pwned) 'a" \`id\``;
    expect((await h.exec(['printf', '%s', odd])).stdout).toBe(odd);
    expect((await h.exec(['cat'], { input: 'from stdin' })).stdout).toBe('from stdin');
    expect((await h.exec(['test', '-e', '/tmp/pwned'])).code).toBe(1);
    expect((await h.exec(['false'])).code).toBe(1);
  });

  it('accepts the test key for root and deploy, verifying the host key', async () => {
    for (const h of hosts) {
      expect((await ssh(h, 'root', 'id', '-un')).trim()).toBe('root');
      expect((await ssh(h, 'deploy', 'id', '-un')).trim()).toBe('deploy');
    }
  });

  it('gives deploy passwordless sudo', async () => {
    for (const h of hosts) {
      expect(await ssh(h, 'deploy', 'sudo', '-n', 'true')).toBe('');
      expect((await ssh(h, 'deploy', 'sudo', '-n', 'id', '-un')).trim()).toBe('root');
    }
  });

  it('gives every host its own host keys', () => {
    const [a, b] = hosts as [TestHost, TestHost];
    const blob = (line: string) => line.split(' ')[2];
    expect(blob(a.knownHostsLine)).not.toBe(blob(b.knownHostsLine));
  });

  it("refuses a host key that is another host's", async () => {
    const [a, b] = hosts as [TestHost, TestHost];
    const swapped = {
      ...a,
      knownHostsLine: `${a.ip} ${b.knownHostsLine.split(' ').slice(1).join(' ')}`,
    };
    await expect(ssh(swapped, 'root', 'true')).rejects.toThrow(/Host key verification failed/);
  });

  it("serves the user's own site over TLS from Caddy's local CA", async () => {
    for (const h of hosts) {
      const { stdout } = await execFileP('curl', [
        '--silent',
        '--show-error',
        '--fail',
        '--max-time',
        '10',
        '--cacert',
        h.caCertPath,
        '--resolve',
        `harness.test:443:${h.ip}`,
        'https://harness.test/',
      ]);
      expect(stdout).toBe('user site');
      expect(h.caCert).toContain('BEGIN CERTIFICATE');
    }
  });

  it('has no route beyond this machine', async () => {
    const routes = await (hosts[0] as TestHost).exec(['ip', 'route', 'show', 'default']);
    expect(routes.stdout.trim()).toBe('');
  });
});
