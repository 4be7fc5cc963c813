/**
 * known_hosts as OpenSSH reads it: plain and `[host]:port` names, wildcards and `!negation`,
 * hashed `|1|salt|hash` names, `@revoked`, `@cert-authority`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type KnownHostsMarker = 'revoked' | 'cert-authority';

/** One usable line of a known_hosts file. */
export interface KnownHostsEntry {
  /** 1-based line number, for messages */
  lineNumber: number;
  marker: KnownHostsMarker | undefined;
  /** the host field as written: `a.example,10.0.0.1`, `[h]:2222`, `|1|salt|hash`, `*` */
  hosts: string;
  keyType: string;
  blob: Buffer;
}

/** A public host key found for a host. */
export interface HostKey {
  keyType: string;
  blob: Buffer;
  fingerprint: string;
  lineNumber: number;
}

export interface HostKeyLookup {
  /** keys the host may present */
  keys: HostKey[];
  /** keys that must be refused even if also listed in `keys` */
  revoked: HostKey[];
}

/** Parse known_hosts text; lines OpenSSH would not use (comments, garbage, RSA1) are skipped. */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const entry = parseKnownHostsLine(raw, index + 1);
    if (entry) entries.push(entry);
  }
  return entries;
}

/** One line of known_hosts, or undefined for a line OpenSSH would not use. */
function parseKnownHostsLine(raw: string, lineNumber: number): KnownHostsEntry | undefined {
  const fields = raw.trim().split(/[ \t]+/);
  if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) return undefined;
  let marker: KnownHostsMarker | undefined;
  if (fields[0].startsWith('@')) {
    const name = fields.shift()!.slice(1);
    if (name !== 'revoked' && name !== 'cert-authority') return undefined;
    marker = name;
  }
  const [hosts, keyType, base64] = fields;
  if (hosts === undefined || keyType === undefined || base64 === undefined) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  const blob = Buffer.from(base64, 'base64');
  // A blob whose embedded type disagrees with the type field is corrupt: never trust it.
  if (blobKeyType(blob) !== keyType) return undefined;
  return { lineNumber, marker, hosts, keyType, blob };
}

/** Keys listed for `host` on `port` (`[host]:port` unless port 22, as ssh looks them up). */
export function findHostKeys(text: string, host: string, port = 22): HostKeyLookup {
  const name = hostLookupName(host, port);
  const lookup: HostKeyLookup = { keys: [], revoked: [] };
  for (const entry of parseKnownHosts(text)) {
    if (entry.marker === 'cert-authority') continue; // host certificates are not supported
    if (!hostFieldMatches(entry.hosts, name)) continue;
    const key: HostKey = {
      keyType: entry.keyType,
      blob: entry.blob,
      fingerprint: fingerprintSha256(entry.blob),
      lineNumber: entry.lineNumber,
    };
    (entry.marker === 'revoked' ? lookup.revoked : lookup.keys).push(key);
  }
  return lookup;
}

/** `SHA256:…` as `ssh-keygen -l` prints it: base64 of the SHA-256 of the key blob, no padding. */
export function fingerprintSha256(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** A known_hosts line for the key: `host type AAAA…`, or `[host]:port type AAAA…` off port 22. */
export function knownHostsLine(host: string, port: number, keyType: string, blob: Buffer): string {
  return `${hostLookupName(host, port)} ${keyType} ${blob.toString('base64')}`;
}

/** The name ssh looks up: lowercase host, bracketed with the port unless the port is 22. */
export function hostLookupName(host: string, port = 22): string {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return port === 22 ? bare : `[${bare}]:${port}`;
}

/** The key type written at the start of an SSH public key blob (`ssh-ed25519`, …). */
export function blobKeyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || blob.length < 4 + length) return undefined;
  return blob.subarray(4, 4 + length).toString('latin1');
}

function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|')) return hashedHostMatches(field, name);
  // As OpenSSH matches a host list: a negated pattern that matches vetoes the whole line.
  let matched = false;
  for (const pattern of field.toLowerCase().split(',')) {
    const negated = pattern.startsWith('!');
    if (!globMatches(negated ? pattern.slice(1) : pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function hashedHostMatches(field: string, name: string): boolean {
  const parts = field.split('|');
  if (parts.length !== 4 || parts[1] !== '1' || !parts[2] || !parts[3]) return false;
  const salt = Buffer.from(parts[2], 'base64');
  const expected = Buffer.from(parts[3], 'base64');
  const actual = createHmac('sha1', salt).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** `*` and `?` wildcards, whole-string match, as OpenSSH matches one host pattern. */
function globMatches(pattern: string, name: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\*?]/g, (c) =>
    c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`,
  );
  return new RegExp(`^${source}$`, 's').test(name);
}
