/**
 * The harness's private network: three real hosts that reach one another over a bridge this
 * machine is not on, as servers of one app would over their provider's private network.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import { connectHosts, type PrivateNetwork } from './harness/private-network.js';
import { run, runOk } from './harness/proc.js';
import type { TestHost } from './harness/types.js';

let hosts: TestHost[] = [];
let net: PrivateNetwork;

/** Whether `from` opens a TCP connection to `address`:`port` within a second. */
async function reaches(from: TestHost, address: string, port: number): Promise<boolean> {
  const probe = await from.exec(
    ['timeout', '1', 'bash', '-c', ': < "/dev/tcp/$0/$1"', address, String(port)],
    { timeoutMs: 5000 },
  );
  return probe.code === 0;
}

beforeAll(async () => {
  hosts = await bootHosts(3);
  net = await connectHosts(hosts);
}, 180_000);

afterAll(async () => {
  net?.teardown();
  await Promise.all(hosts.map((h) => h.shutdown()));
});

describe('a private network between test hosts', () => {
  it('gives each host an address of its own on one subnet', () => {
    const addresses = hosts.map((h) => net.addressOf(h));
    expect(new Set(addresses).size).toBe(3);
    const prefix = net.subnet.replace(/\.0\/24$/, '.');
    for (const address of addresses) expect(address.startsWith(prefix)).toBe(true);
  });

  it("lets every host reach every other host's sshd and Caddy", async () => {
    for (const from of hosts) {
      for (const to of hosts) {
        if (from === to) continue;
        expect(await reaches(from, net.addressOf(to), 22), `${from.name} → ${to.name}:22`).toBe(
          true,
        );
        expect(await reaches(from, net.addressOf(to), 443), `${from.name} → ${to.name}:443`).toBe(
          true,
        );
      }
    }
  });

  it('has no address or route on this machine', async () => {
    const [first] = hosts as [TestHost];
    const prefix = net.subnet.replace(/0\/24$/, '');
    // (A TCP connect is no test here: this machine's default route may lead to a proxy that
    // accepts anything.) No interface of this machine is on the subnet, and the route to a host's
    // private address is not through any test host's link.
    expect(await runOk(['ip', '-o', '-4', 'addr', 'show'])).not.toContain(` ${prefix}`);
    const route = await runOk(['ip', 'route', 'get', net.addressOf(first)]);
    expect(route).not.toMatch(/ dev ve-toss-/);
  });

  it("cuts one host's link and brings it back; its SSH from this machine stays up", async () => {
    const [a, b, c] = hosts as [TestHost, TestHost, TestHost];
    await net.cut(b);
    expect(await reaches(a, net.addressOf(b), 22)).toBe(false);
    expect(await reaches(c, net.addressOf(b), 22)).toBe(false);
    expect(await reaches(a, net.addressOf(c), 22)).toBe(true);
    const ssh = await run([...b.sshArgv('root', 'true')], { timeoutMs: 15_000 });
    expect(ssh.code, ssh.stderr).toBe(0);
    await net.restore(b);
    expect(await reaches(a, net.addressOf(b), 22)).toBe(true);
  });

  it('goes with its teardown, and with the first host when nobody tore it down', async () => {
    net.teardown();
    expect(existsSync(`/run/netns/${net.netns}`)).toBe(false);
    const [a, b] = hosts as [TestHost, TestHost];
    expect(await reaches(a, net.addressOf(b), 22)).toBe(false);
    // A second network on the same hosts, left for the first host's shutdown to remove.
    const again = await connectHosts(hosts);
    expect(await reaches(a, again.addressOf(b), 22)).toBe(true);
    await a.shutdown();
    expect(existsSync(`/run/netns/${again.netns}`)).toBe(false);
  });
});
