import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobKeyType,
  findHostKeys,
  fingerprintSha256,
  hostLookupName,
  knownHostsLine,
  parseKnownHosts,
} from '../../src/remote/known-hosts.js';

interface GeneratedKey {
  type: string;
  blob: Buffer;
  base64: string;
  pubPath: string;
}

const scratch = mkdtempSync(join(tmpdir(), 'toss-known-hosts-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function generateKey(name: string, type: 'ed25519' | 'ecdsa' | 'rsa'): GeneratedKey {
  const path = join(scratch, name);
  const extra = type === 'rsa' ? ['-b', '2048'] : [];
  execFileSync('ssh-keygen', ['-q', '-t', type, ...extra, '-N', '', '-C', name, '-f', path]);
  const [keyType, base64] = readFileSync(`${path}.pub`, 'utf8').trim().split(' ');
  return {
    type: keyType!,
    base64: base64!,
    blob: Buffer.from(base64!, 'base64'),
    pubPath: `${path}.pub`,
  };
}

let ed: GeneratedKey;
let ec: GeneratedKey;
let rsa: GeneratedKey;
let other: GeneratedKey;

beforeAll(() => {
  ed = generateKey('ed', 'ed25519');
  ec = generateKey('ec', 'ecdsa');
  rsa = generateKey('rsa', 'rsa');
  other = generateKey('other', 'ed25519');
});

const blobsOf = (text: string, host: string, port?: number) =>
  findHostKeys(text, host, port).keys.map((key) => key.blob.toString('base64'));

describe('fingerprintSha256', () => {
  it('matches ssh-keygen -lf for ed25519, ecdsa and rsa keys', () => {
    for (const key of [ed, ec, rsa]) {
      const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', key.pubPath], {
        encoding: 'utf8',
      });
      expect(printed.split(' ')[1]).toBe(fingerprintSha256(key.blob));
    }
    expect(fingerprintSha256(ed.blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});

describe('blobKeyType', () => {
  it('reads the type inside the blob', () => {
    expect(blobKeyType(ed.blob)).toBe('ssh-ed25519');
    expect(blobKeyType(ec.blob)).toBe('ecdsa-sha2-nistp256');
    expect(blobKeyType(rsa.blob)).toBe('ssh-rsa');
    expect(blobKeyType(Buffer.from([0, 0, 0]))).toBeUndefined();
    expect(blobKeyType(Buffer.from([0, 0, 0, 9, 65]))).toBeUndefined();
  });
});

describe('findHostKeys', () => {
  it('finds plain entries by any name on the line, case-insensitively', () => {
    const text = `# a comment\n\n  server.example.com,203.0.113.10 ${ed.type} ${ed.base64} me@laptop\n`;
    expect(blobsOf(text, 'server.example.com')).toEqual([ed.base64]);
    expect(blobsOf(text, 'SERVER.Example.COM')).toEqual([ed.base64]);
    expect(blobsOf(text, '203.0.113.10', 22)).toEqual([ed.base64]);
    expect(blobsOf(text, 'example.com')).toEqual([]);
    expect(blobsOf(text, 'server.example.com', 2222)).toEqual([]);
  });

  it('uses [host]:port off port 22, and plain names only on 22, as ssh does', () => {
    const text = [
      `[10.0.0.5]:2222 ${ed.type} ${ed.base64}`,
      `10.0.0.5 ${ec.type} ${ec.base64}`,
      `[10.0.0.5]:22 ${rsa.type} ${rsa.base64}`,
      `[2001:db8::1]:2222 ${other.type} ${other.base64}`,
      `2001:db8::1 ${rsa.type} ${rsa.base64}`,
    ].join('\n');
    expect(blobsOf(text, '10.0.0.5', 2222)).toEqual([ed.base64]);
    expect(blobsOf(text, '10.0.0.5', 22)).toEqual([ec.base64]);
    expect(blobsOf(text, '10.0.0.5')).toEqual([ec.base64]);
    expect(blobsOf(text, '2001:db8::1', 2222)).toEqual([other.base64]);
    expect(blobsOf(text, '[2001:db8::1]', 2222)).toEqual([other.base64]);
    expect(blobsOf(text, '2001:db8::1', 22)).toEqual([rsa.base64]);
  });

  it('returns every key type listed for the host, with fingerprints and line numbers', () => {
    const text = [
      `h ${ed.type} ${ed.base64}`,
      `h ${ec.type} ${ec.base64}`,
      `h ${rsa.type} ${rsa.base64}`,
    ].join('\n');
    const { keys, revoked } = findHostKeys(text, 'h', 22);
    expect(keys.map((key) => key.keyType)).toEqual([
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'ssh-rsa',
    ]);
    expect(keys.map((key) => key.lineNumber)).toEqual([1, 2, 3]);
    expect(keys[0]!.fingerprint).toBe(fingerprintSha256(ed.blob));
    expect(revoked).toEqual([]);
  });

  it('honours wildcards and negations', () => {
    const text = [
      `*.example.com,!bad.example.com ${ed.type} ${ed.base64}`,
      `10.0.0.? ${ec.type} ${ec.base64}`,
    ].join('\n');
    expect(blobsOf(text, 'a.example.com')).toEqual([ed.base64]);
    expect(blobsOf(text, 'bad.example.com')).toEqual([]);
    expect(blobsOf(text, 'example.com')).toEqual([]);
    expect(blobsOf(text, '10.0.0.7')).toEqual([ec.base64]);
    expect(blobsOf(text, '10.0.0.77')).toEqual([]);
  });

  it('lists @revoked keys apart and ignores @cert-authority lines', () => {
    const text = [
      `@revoked * ${other.type} ${other.base64}`,
      `@cert-authority *.example.com ${rsa.type} ${rsa.base64}`,
      `h.example.com ${ed.type} ${ed.base64}`,
      `@unknown-marker h.example.com ${ec.type} ${ec.base64}`,
    ].join('\n');
    const { keys, revoked } = findHostKeys(text, 'h.example.com', 22);
    expect(keys.map((key) => key.keyType)).toEqual(['ssh-ed25519']);
    expect(revoked.map((key) => key.blob.toString('base64'))).toEqual([other.base64]);
  });

  it('skips corrupt lines: bad base64, a type that disagrees with the blob, too few fields', () => {
    const text = [
      `h ssh-ed25519 not*base64`,
      `h ssh-rsa ${ed.base64}`,
      `h ${ed.type}`,
      'h',
      `h ${ec.type} ${ec.base64}`,
    ].join('\n');
    expect(parseKnownHosts(text).map((entry) => entry.lineNumber)).toEqual([5]);
    expect(blobsOf(text, 'h')).toEqual([ec.base64]);
  });

  it('reads hashed entries written by ssh-keygen -H (port 22 and [host]:2222)', () => {
    const file = join(scratch, 'known_hosts_hashed');
    writeFileSync(
      file,
      [
        `server.example.com ${ed.type} ${ed.base64}`,
        `[server.example.com]:2222 ${ec.type} ${ec.base64}`,
        `[10.213.0.2]:2222 ${rsa.type} ${rsa.base64}`,
        '',
      ].join('\n'),
    );
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('server.example.com');
    expect(text).not.toContain('10.213.0.2');
    expect(text.split('\n').filter((line) => line.startsWith('|1|'))).toHaveLength(3);

    expect(blobsOf(text, 'server.example.com', 22)).toEqual([ed.base64]);
    expect(blobsOf(text, 'Server.Example.com', 22)).toEqual([ed.base64]);
    expect(blobsOf(text, 'server.example.com', 2222)).toEqual([ec.base64]);
    expect(blobsOf(text, '10.213.0.2', 2222)).toEqual([rsa.base64]);
    expect(blobsOf(text, '10.213.0.2', 22)).toEqual([]);
    expect(blobsOf(text, 'other.example.com', 22)).toEqual([]);
  });

  it('accepts CRLF line endings and tabs', () => {
    const text = `h\t${ed.type}\t${ed.base64}\r\nh2 ${ec.type} ${ec.base64}\r\n`;
    expect(blobsOf(text, 'h')).toEqual([ed.base64]);
    expect(blobsOf(text, 'h2')).toEqual([ec.base64]);
  });
});

describe('knownHostsLine', () => {
  it('writes host keytype base64, bracketed with the port off 22', () => {
    expect(knownHostsLine('Server.example.com', 22, ed.type, ed.blob)).toBe(
      `server.example.com ssh-ed25519 ${ed.base64}`,
    );
    expect(knownHostsLine('10.0.0.5', 2222, ed.type, ed.blob)).toBe(
      `[10.0.0.5]:2222 ssh-ed25519 ${ed.base64}`,
    );
    expect(hostLookupName('2001:db8::1', 2222)).toBe('[2001:db8::1]:2222');
    expect(hostLookupName('2001:db8::1', 22)).toBe('2001:db8::1');
  });

  it('writes lines that ssh-keygen -F finds and that findHostKeys reads back', () => {
    const file = join(scratch, 'known_hosts_written');
    const lines = [
      knownHostsLine('10.0.0.5', 2222, ed.type, ed.blob),
      knownHostsLine('server.example.com', 22, rsa.type, rsa.blob),
    ];
    writeFileSync(file, `${lines.join('\n')}\n`);
    const found = (name: string) =>
      execFileSync('ssh-keygen', ['-F', name, '-f', file], { encoding: 'utf8' });
    expect(found('[10.0.0.5]:2222')).toContain(ed.base64);
    expect(found('server.example.com')).toContain(rsa.base64);
    const text = readFileSync(file, 'utf8');
    expect(blobsOf(text, '10.0.0.5', 2222)).toEqual([ed.base64]);
    expect(blobsOf(text, 'server.example.com')).toEqual([rsa.base64]);
  });
});
