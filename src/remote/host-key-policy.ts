/**
 * Whether to trust the host key a server presents: a pure decision, so every branch is unit-tested
 * without a server. Unknown and changed keys are refused; only `toss init` passes `trust`, and
 * even then a changed or revoked key is never accepted.
 */
import { HostKeyError } from '../errors.js';
import {
  blobKeyType,
  fingerprintSha256,
  type HostKeyLookup,
  hostLookupName,
  knownHostsLine,
} from './known-hosts.js';

/** How `toss init` may accept a host that known_hosts does not list yet. */
export type HostTrust = { acceptNew: true } | { pinnedFingerprint: string };

/** The host key a connection verified, as rsync's temporary known_hosts and `init` need it. */
export interface VerifiedHostKey {
  keyType: string;
  blob: Buffer;
  /** `SHA256:…` */
  fingerprint: string;
  /** the known_hosts line for this host, port and key */
  line: string;
  /** why it was trusted: listed in known_hosts, accepted as new (`--yes`), or matched `--host-key` */
  source: 'known-hosts' | 'accepted-new' | 'pinned';
}

export type HostKeyRefusalReason =
  | 'unknown'
  | 'changed'
  | 'revoked'
  | 'pin-mismatch'
  | 'no-common-type';

/** A refused host key, with what the server presented so a door can print the line to check. */
export class HostKeyRefusedError extends HostKeyError {
  readonly reason: HostKeyRefusalReason;
  readonly presented: Omit<VerifiedHostKey, 'source'> | undefined;
  /** fingerprints known_hosts (or the pin) expected */
  readonly expected: string[];
  constructor(
    reason: HostKeyRefusalReason,
    message: string,
    details: {
      hint: string;
      presented?: Omit<VerifiedHostKey, 'source'>;
      expected?: string[];
    },
  ) {
    super(message, { hint: details.hint });
    this.reason = reason;
    this.presented = details.presented;
    this.expected = details.expected ?? [];
  }
}

export type HostKeyDecision =
  | { ok: true; key: VerifiedHostKey }
  | { ok: false; error: HostKeyRefusedError };

// ssh2's host key algorithms, most preferred first; a known key type maps to the ones it signs.
const ALGORITHMS_BY_KEY_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ssh-dss': ['ssh-dss'],
};

/**
 * Host key algorithms to offer so the server presents a key we know, or undefined (ssh2's default
 * order, ed25519 first) when the host is not listed. An empty array means no usable type is listed.
 */
export function hostKeyAlgorithms(lookup: HostKeyLookup): string[] | undefined {
  if (lookup.keys.length === 0) return undefined;
  const known = new Set(lookup.keys.map((key) => key.keyType));
  return Object.entries(ALGORITHMS_BY_KEY_TYPE)
    .filter(([keyType]) => known.has(keyType))
    .flatMap(([, algorithms]) => algorithms);
}

/** Decide on the key blob the server presented for host:port. */
export function decideHostKey(input: {
  host: string;
  port: number;
  lookup: HostKeyLookup;
  presented: Buffer;
  trust?: HostTrust | undefined;
}): HostKeyDecision {
  const { host, port, lookup, presented, trust } = input;
  const keyType = blobKeyType(presented) ?? 'unknown';
  const key: PresentedKey = {
    keyType,
    blob: presented,
    fingerprint: fingerprintSha256(presented),
    line: knownHostsLine(host, port, keyType, presented),
  };
  const where = hostLookupName(host, port);

  const revoked = lookup.revoked.find((entry) => entry.blob.equals(presented));
  if (revoked) {
    return refuse(
      'revoked',
      key,
      `${where} presented a host key that known_hosts marks @revoked (line ${revoked.lineNumber}): ${key.fingerprint}`,
      'a revoked key is never accepted; give the server a new host key and record that one',
    );
  }

  const pinned = trust && 'pinnedFingerprint' in trust ? trust.pinnedFingerprint : undefined;
  if (pinned !== undefined && normalizeFingerprint(pinned) !== key.fingerprint) {
    return refuse(
      'pin-mismatch',
      key,
      `${where} presented host key ${key.fingerprint} (${keyType}), not the expected ${normalizeFingerprint(pinned)}`,
      `check the fingerprint you passed with --host-key; ${checkOnServer(keyType)}`,
      [normalizeFingerprint(pinned)],
    );
  }

  if (lookup.keys.some((entry) => entry.blob.equals(presented))) {
    return { ok: true, key: { ...key, source: 'known-hosts' } };
  }
  if (lookup.keys.length > 0) return changedKey(where, key, lookup);

  if (trust && 'acceptNew' in trust && trust.acceptNew) {
    return { ok: true, key: { ...key, source: 'accepted-new' } };
  }
  if (pinned !== undefined) return { ok: true, key: { ...key, source: 'pinned' } };

  return refuse(
    'unknown',
    key,
    `unknown host ${where}: known_hosts has no key for it; the server presented ${keyType} key ${key.fingerprint}`,
    `UNVERIFIED — ${checkOnServer(keyType)} (run it on the server). If the fingerprints match, add this line to known_hosts:\n${key.line}`,
  );
}

/** The key a server presented, before it is trusted. */
type PresentedKey = Omit<VerifiedHostKey, 'source'>;

function refuse(
  reason: HostKeyRefusalReason,
  key: PresentedKey,
  message: string,
  hint: string,
  expected?: string[],
): HostKeyDecision {
  return {
    ok: false,
    error: new HostKeyRefusedError(reason, message, { hint, presented: key, expected }),
  };
}

/** The refusal of a key that known_hosts does not list for a host it lists other keys for. */
function changedKey(where: string, key: PresentedKey, lookup: HostKeyLookup): HostKeyDecision {
  const expected = lookup.keys.map((entry) => entry.fingerprint);
  const listed = lookup.keys
    .map((entry) => `${entry.fingerprint} (${entry.keyType}, line ${entry.lineNumber})`)
    .join(', ');
  return refuse(
    'changed',
    key,
    `HOST KEY CHANGED for ${where}: known_hosts expects ${listed}, but the server presented ${key.fingerprint} (${key.keyType}). Someone may be intercepting the connection, or the server was reinstalled; toss refuses to connect.`,
    `${checkOnServer(key.keyType)} (run it on the server). Only if the change is expected: remove the old entry (ssh-keygen -R '${where}') and add the new one; a changed key is never accepted automatically.`,
    expected,
  );
}

/** How to check a presented key against the server's own, for hints. */
function checkOnServer(keyType: string): string {
  return `compare it with the server's own key: ssh-keygen -lf ${serverKeyFile(keyType)}`;
}

/** The HostKeyError for a server that offers none of the key types known_hosts lists for it. */
export function noCommonKeyTypeError(lookup: HostKeyLookup, host: string, port: number) {
  const where = hostLookupName(host, port);
  const types = [...new Set(lookup.keys.map((key) => key.keyType))].join(', ');
  return new HostKeyRefusedError(
    'no-common-type',
    `HOST KEY CHANGED for ${where}: known_hosts lists only ${types} keys for it, and the server offers none of them`,
    {
      hint: `compare the server's keys (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the server) with known_hosts; if the change is expected, remove the old entry (ssh-keygen -R '${where}') and add the new one`,
      expected: lookup.keys.map((key) => key.fingerprint),
    },
  );
}

/** Accept `SHA256:abc`, `abc`, and padded base64 alike. */
export function normalizeFingerprint(fingerprint: string): string {
  const bare = fingerprint
    .trim()
    .replace(/^SHA256:/i, '')
    .replace(/=+$/, '');
  return `SHA256:${bare}`;
}

function serverKeyFile(keyType: string): string {
  const name = keyType.startsWith('ecdsa-')
    ? 'ecdsa'
    : keyType === 'ssh-rsa'
      ? 'rsa'
      : keyType === 'ssh-dss'
        ? 'dsa'
        : 'ed25519';
  return `/etc/ssh/ssh_host_${name}_key.pub`;
}
