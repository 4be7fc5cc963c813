/**
 * A private network between test hosts, as a VPS provider's: a bridge in a network namespace of
 * its own (this machine is not on it), and a second interface `eth1` in each host joined to it.
 * Hosts reach one another at 10.214.<id>.<index>, where <id> is the first host's index (leased,
 * so two networks never share a subnet) and <index> each host's own.
 *
 * Each host's link to the bridge is a veth pair born in the host's namespace: it goes when the
 * host's namespace goes. The bridge's namespace goes with `teardown()`, or with the first host's
 * network (teardownNetworkSync) when a run died before it could say so.
 */
import { hostNames } from './paths.js';
import { runOk, runSync } from './proc.js';
import type { TestHost } from './types.js';

export interface PrivateNetwork {
  /** the bridge's namespace, `toss-pn<id>` */
  netns: string;
  /** the network, `10.214.<id>.0/24` */
  subnet: string;
  /** a host's address on it */
  addressOf(host: TestHost): string;
  /** takes the host's link to the bridge down (its SSH from this machine stays up) */
  cut(host: TestHost): Promise<void>;
  /** brings it back */
  restore(host: TestHost): Promise<void>;
  /** removes the bridge (the hosts' links go with it); idempotent */
  teardown(): void;
}

/** The namespace of the private network whose id is `index`. */
export function privateNetns(index: number): string {
  return `toss-pn${index}`;
}

/** The name of a host's port on the bridge, inside the bridge's namespace. */
function bridgePort(host: TestHost): string {
  return `h${host.index}`;
}

/** Joins `hosts` (booted, at least two) on a private network of their own. */
export async function connectHosts(hosts: readonly TestHost[]): Promise<PrivateNetwork> {
  const [first] = hosts;
  if (first === undefined || hosts.length < 2) throw new Error('a private network needs 2 hosts');
  const id = first.index;
  const netns = privateNetns(id);
  const addressOf = (host: TestHost) => {
    if (!hosts.includes(host)) throw new Error(`${host.name} is not on ${netns}`);
    return `10.214.${id}.${host.index}`;
  };
  runSync(['ip', 'netns', 'delete', netns]);
  await runOk(['ip', 'netns', 'add', netns]);
  const teardown = () => {
    runSync(['ip', 'netns', 'delete', netns]);
  };
  try {
    await runOk(['ip', '-n', netns, 'link', 'add', 'br0', 'type', 'bridge']);
    await runOk(['ip', '-n', netns, 'link', 'set', 'br0', 'up']);
    for (const host of hosts) {
      const hostNetns = hostNames(host.index).netns;
      const port = bridgePort(host);
      // Born in the host's namespace, its peer moved to the bridge's: gone with the host.
      const veth = ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', port, 'netns', netns];
      await runOk(['ip', '-n', hostNetns, ...veth]);
      await runOk(['ip', '-n', netns, 'link', 'set', port, 'master', 'br0', 'up']);
      await runOk(['ip', '-n', hostNetns, 'addr', 'add', `${addressOf(host)}/24`, 'dev', 'eth1']);
      await runOk(['ip', '-n', hostNetns, 'link', 'set', 'eth1', 'up']);
    }
  } catch (error) {
    for (const host of hosts)
      runSync(['ip', '-n', hostNames(host.index).netns, 'link', 'delete', 'eth1']);
    teardown();
    throw error;
  }
  const setLink = (host: TestHost, state: 'up' | 'down') =>
    runOk(['ip', '-n', netns, 'link', 'set', bridgePort(host), state]).then(() => undefined);
  return {
    netns,
    subnet: `10.214.${id}.0/24`,
    addressOf,
    cut: (host) => setLink(host, 'down'),
    restore: (host) => setLink(host, 'up'),
    teardown,
  };
}
