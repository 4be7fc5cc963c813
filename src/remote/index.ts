/** The SSH layer: one verified connection, the one quoting function, known_hosts. */
export {
  type ConnectOptions,
  connect,
  type FileOptions,
  type RunOptions,
  type RunResult,
  SshConnection,
  type WriteFileOptions,
} from './connection.js';
export {
  type HostKeyRefusalReason,
  HostKeyRefusedError,
  type HostTrust,
  type VerifiedHostKey,
} from './host-key-policy.js';
export {
  findHostKeys,
  fingerprintSha256,
  type HostKey,
  type HostKeyLookup,
  knownHostsLine,
  parseKnownHosts,
} from './known-hosts.js';
export { shellJoin, shellQuote } from './quote.js';
