import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HostKeyError } from '../../src/errors.js';
import {
  decideHostKey,
  type HostKeyRefusedError,
  hostKeyAlgorithms,
  noCommonKeyTypeError,
  normalizeFingerprint,
} from '../../src/remote/host-key-policy.js';
import { findHostKeys, fingerprintSha256 } from '../../src/remote/known-hosts.js';

/** An SSH ed25519 public key blob: string "ssh-ed25519", string key. */
function ed25519Blob(): Buffer {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
}

const known = ed25519Blob();
const intruder = ed25519Blob();
const line = (host: string, blob: Buffer) => `${host} ssh-ed25519 ${blob.toString('base64')}`;

function refused(decision: ReturnType<typeof decideHostKey>): HostKeyRefusedError {
  if (decision.ok) throw new Error('expected a refusal');
  return decision.error;
}

describe('decideHostKey', () => {
  const lookup = findHostKeys(line('[10.0.0.5]:2222', known), '10.0.0.5', 2222);

  it('accepts the key known_hosts lists for host:port', () => {
    const decision = decideHostKey({ host: '10.0.0.5', port: 2222, lookup, presented: known });
    expect(decision).toMatchObject({
      ok: true,
      key: {
        keyType: 'ssh-ed25519',
        fingerprint: fingerprintSha256(known),
        line: line('[10.0.0.5]:2222', known),
        source: 'known-hosts',
      },
    });
  });

  it('refuses a changed key naming both fingerprints, even with trust', () => {
    for (const trust of [
      undefined,
      { acceptNew: true as const },
      { pinnedFingerprint: fingerprintSha256(intruder) },
    ]) {
      const error = refused(
        decideHostKey({ host: '10.0.0.5', port: 2222, lookup, presented: intruder, trust }),
      );
      expect(error).toBeInstanceOf(HostKeyError);
      expect(error.reason).toBe('changed');
      expect(error.message).toContain(fingerprintSha256(known));
      expect(error.message).toContain(fingerprintSha256(intruder));
      expect(error.message).toMatch(/HOST KEY CHANGED for \[10\.0\.0\.5\]:2222/);
      expect(error.expected).toEqual([fingerprintSha256(known)]);
      expect(error.hint).toContain("ssh-keygen -R '[10.0.0.5]:2222'");
    }
  });

  it('refuses an unknown host with the fingerprint and the unverified line to add', () => {
    const empty = findHostKeys('', 'new.example.com', 22);
    const error = refused(
      decideHostKey({ host: 'new.example.com', port: 22, lookup: empty, presented: intruder }),
    );
    expect(error.reason).toBe('unknown');
    expect(error.message).toContain(fingerprintSha256(intruder));
    expect(error.hint).toContain('UNVERIFIED');
    expect(error.hint).toContain('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub');
    expect(error.hint).toContain(line('new.example.com', intruder));
    expect(error.presented?.line).toBe(line('new.example.com', intruder));
  });

  it('accepts an unknown host with acceptNew, or with a matching pin only', () => {
    const empty = findHostKeys('', 'h', 22);
    const base = { host: 'h', port: 22, lookup: empty, presented: intruder };
    expect(decideHostKey({ ...base, trust: { acceptNew: true } })).toMatchObject({
      ok: true,
      key: { source: 'accepted-new', fingerprint: fingerprintSha256(intruder) },
    });
    const pin = fingerprintSha256(intruder);
    for (const written of [pin, pin.slice('SHA256:'.length), `${pin}=`]) {
      expect(decideHostKey({ ...base, trust: { pinnedFingerprint: written } })).toMatchObject({
        ok: true,
        key: { source: 'pinned' },
      });
    }
    const error = refused(
      decideHostKey({ ...base, trust: { pinnedFingerprint: fingerprintSha256(known) } }),
    );
    expect(error.reason).toBe('pin-mismatch');
    expect(error.message).toContain(fingerprintSha256(known));
    expect(error.message).toContain(fingerprintSha256(intruder));
  });

  it('refuses a revoked key even when it is also listed and trust is given', () => {
    const text = `${line('h', known)}\n@revoked * ssh-ed25519 ${known.toString('base64')}\n`;
    const error = refused(
      decideHostKey({
        host: 'h',
        port: 22,
        lookup: findHostKeys(text, 'h', 22),
        presented: known,
        trust: { acceptNew: true },
      }),
    );
    expect(error.reason).toBe('revoked');
    expect(error.message).toContain('line 2');
  });
});

describe('hostKeyAlgorithms', () => {
  it('offers only the algorithms of the key types known for the host, preferred first', () => {
    const rsaBlob = Buffer.concat([
      Buffer.from([0, 0, 0, 7]),
      Buffer.from('ssh-rsa'),
      Buffer.alloc(8),
    ]);
    const text = [`h ssh-rsa ${rsaBlob.toString('base64')}`, line('h', known)].join('\n');
    expect(hostKeyAlgorithms(findHostKeys(text, 'h'))).toEqual([
      'ssh-ed25519',
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
    ]);
    expect(hostKeyAlgorithms(findHostKeys(line('h', known), 'h'))).toEqual(['ssh-ed25519']);
    expect(hostKeyAlgorithms(findHostKeys('', 'h'))).toBeUndefined();
  });

  it('returns none when only types ssh2 cannot verify are listed', () => {
    const sk = Buffer.concat([
      Buffer.from([0, 0, 0, 26]),
      Buffer.from('sk-ssh-ed25519@openssh.com'),
      Buffer.alloc(8),
    ]);
    const lookup = findHostKeys(`h sk-ssh-ed25519@openssh.com ${sk.toString('base64')}`, 'h');
    expect(hostKeyAlgorithms(lookup)).toEqual([]);
    expect(noCommonKeyTypeError(lookup, 'h', 22).message).toMatch(/sk-ssh-ed25519@openssh.com/);
  });
});

describe('normalizeFingerprint', () => {
  it('adds the prefix and strips padding', () => {
    expect(normalizeFingerprint(' abc= ')).toBe('SHA256:abc');
    expect(normalizeFingerprint('sha256:abc')).toBe('SHA256:abc');
  });
});
