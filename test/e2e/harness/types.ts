/** What the test-server harness hands a test: one booted Debian host with systemd as PID 1. */
export interface TestHostUser {
  /** login name: 'root', or 'deploy' (passwordless sudo) */
  name: string;
}

export interface TestHost {
  /** short id, e.g. 'toss-h3' (also the netns and machine name) */
  name: string;
  /** index N: the host is 10.213.N.2, this machine's side 10.213.N.1 */
  index: number;
  /** the host's IPv4 address, reachable from this machine only */
  ip: string;
  /** SSH port (22) */
  port: number;
  /** users with the test key in authorized_keys */
  users: { root: TestHostUser; deploy: TestHostUser };
  /** path of the test private key (OpenSSH format, 0600), accepted for every user */
  keyPath: string;
  /** the private key's contents */
  key: string;
  /** the host's own ed25519 known_hosts line: `10.213.N.2 ssh-ed25519 AAAA…` */
  knownHostsLine: string;
  /** every host key line (ed25519, ecdsa, rsa) the host has */
  knownHostsLines: string[];
  /** PEM of the CA that Caddy on this host uses for `tls internal` / `local_certs` ('' on a bare host) */
  caCert: string;
  /** path of caCert on this machine (for curl --cacert; '' on a bare host) */
  caCertPath: string;
  /**
   * run a command inside the host as root, NOT over SSH (for planting faults, reading files);
   * argv is passed without a shell; a non-zero exit is returned as `code`, not thrown
   */
  exec(
    argv: string[],
    options?: { input?: string; timeoutMs?: number },
  ): Promise<{ stdout: string; stderr: string; code: number }>;
  /** the veth interface on this machine's side (for `ip link set … down`) */
  hostVeth: string;
  /** path of a known_hosts file on this machine holding knownHostsLines */
  knownHostsPath: string;
  /** full `ssh …` argv (test key, strict host-key checking, no user config) for user@host [-- command] */
  sshArgv(user: string, ...command: string[]): string[];
  /** milliseconds from starting systemd-nspawn to systemd, sshd and Caddy all ready */
  bootMs: number;
  /** power off and clean up (idempotent) */
  shutdown(): Promise<void>;
}
