/** One network namespace per host, joined to this machine by a veth pair (no route beyond). */
import { hostNames } from './paths.js';
import { privateNetns } from './private-network.js';
import { runOk, runSync } from './proc.js';

export async function setupNetwork(index: number): Promise<void> {
  const n = hostNames(index);
  // Leftovers of a crashed run with this index would make `add` fail.
  teardownNetworkSync(index);
  await runOk(['ip', 'netns', 'add', n.netns]);
  // The peer is born inside the namespace, so its name cannot clash with this machine's eth0.
  await runOk([
    'ip',
    'link',
    'add',
    n.hostVeth,
    'type',
    'veth',
    'peer',
    'name',
    n.guestIf,
    'netns',
    n.netns,
  ]);
  await runOk(['ip', 'addr', 'add', `${n.hostAddr}/24`, 'dev', n.hostVeth]);
  await runOk(['ip', 'link', 'set', n.hostVeth, 'up']);
  await runOk(['ip', '-n', n.netns, 'addr', 'add', `${n.guestAddr}/24`, 'dev', n.guestIf]);
  await runOk(['ip', '-n', n.netns, 'link', 'set', n.guestIf, 'up']);
  await runOk(['ip', '-n', n.netns, 'link', 'set', 'lo', 'up']);
  // What toss sets on a real server before each Caddy reload (see caddy-apply.ts): a closing
  // SO_REUSEPORT listener hands its queued connections to Caddy's new one instead of resetting
  // them. Inside the host the key is not writable, so it is set here, on the namespace itself.
  await runOk(['ip', 'netns', 'exec', n.netns, 'sysctl', '-qw', 'net.ipv4.tcp_migrate_req=1']);
}

/**
 * Idempotent: deleting the namespace also destroys the veth pair; the link del covers a half-made
 * one. A private network whose id is this index (see private-network.ts) goes too: its owner may
 * have died before tearing it down.
 */
export function teardownNetworkSync(index: number): void {
  const n = hostNames(index);
  runSync(['ip', 'netns', 'delete', n.netns]);
  runSync(['ip', 'link', 'delete', n.hostVeth]);
  runSync(['ip', 'netns', 'delete', privateNetns(index)]);
}
