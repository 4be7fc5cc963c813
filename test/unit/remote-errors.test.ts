import { describe, expect, it } from 'vitest';
import { ConnectionError, RemoteCommandError } from '../../src/errors.js';
import { OutputTail } from '../../src/remote/output-tail.js';
import {
  type ConnectTarget,
  connectError,
  connectionLostError,
  describeTarget,
  sudoError,
} from '../../src/remote/ssh-errors.js';

const target: ConnectTarget = {
  host: '203.0.113.10',
  port: 2222,
  username: 'deploy',
  keyPath: '/home/me/.ssh/id_ed25519',
  agent: undefined,
  offered: 'the key /home/me/.ssh/id_ed25519',
  connectTimeoutMs: 15_000,
};

const ssh2Error = (message: string, fields: { level?: string; code?: string }) =>
  Object.assign(new Error(message), fields);

describe('connectError', () => {
  it('says the key was not accepted for user@host and how to fix it', () => {
    const error = connectError(
      ssh2Error('All configured authentication methods failed', { level: 'client-authentication' }),
      target,
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toContain('did not accept the SSH key for deploy@203.0.113.10');
    expect(error.message).toContain('/home/me/.ssh/id_ed25519');
    expect(error.hint).toContain('authorized_keys');
    expect(error.hint).toContain('--identity');
  });

  it('names the timeout and what to try', () => {
    const error = connectError(
      ssh2Error('Timed out while waiting for handshake', { level: 'client-timeout' }),
      target,
    );
    expect(error.message).toBe('no SSH answer from 203.0.113.10:2222 within 15 s');
    expect(error.hint).toContain('ssh -p 2222 deploy@203.0.113.10');
  });

  it.each<[string, { level?: string; code?: string }, RegExp]>([
    [
      'connect ECONNREFUSED',
      { level: 'client-socket', code: 'ECONNREFUSED' },
      /connection refused by 203\.0\.113\.10:2222/,
    ],
    [
      'connect EHOSTUNREACH',
      { level: 'client-socket', code: 'EHOSTUNREACH' },
      /cannot reach 203\.0\.113\.10:2222/,
    ],
    [
      'getaddrinfo ENOTFOUND',
      { level: 'client-dns', code: 'ENOTFOUND' },
      /cannot resolve the host name/,
    ],
    [
      'Connection lost before handshake',
      { level: 'protocol' },
      /closed the connection before the SSH handshake/,
    ],
    [
      'Cannot parse privateKey: Unsupported key format',
      {},
      /cannot use the private key \/home\/me\/.ssh\/id_ed25519/,
    ],
  ])('maps %s', (text, fields, message) => {
    const error = connectError(ssh2Error(text, fields), target);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(message);
    expect(error.hint).toBeTruthy();
  });

  it('keeps unknown failures readable', () => {
    expect(connectError(new Error('boom'), target).message).toBe(
      'SSH connection to deploy@203.0.113.10:2222 failed: boom',
    );
  });
});

describe('connectionLostError', () => {
  it('names the target, the command and the cause', () => {
    const error = connectionLostError('root@h', 'sleep 60', new Error('Keepalive timeout'));
    expect(error.message).toBe(
      'lost the SSH connection to root@h while running: sleep 60 (Keepalive timeout)',
    );
    expect(error.hint).toContain('run again');
  });
});

describe('sudoError', () => {
  it('explains that passwordless sudo is needed', () => {
    const error = sudoError('deploy', 'h', 'sudo -n -- true', 1, 'sudo: a password is required');
    expect(error).toBeInstanceOf(RemoteCommandError);
    expect(error?.message).toBe(
      'sudo asks deploy@h for a password: toss needs passwordless sudo for deploy',
    );
    expect(error?.hint).toContain('NOPASSWD');
    expect(error?.exitCode).toBe(1);
  });

  it('recognises a user without sudo rights and a missing sudo', () => {
    expect(sudoError('u', 'h', 'c', 1, 'u is not in the sudoers file.')?.message).toMatch(
      /may not use sudo/,
    );
    expect(sudoError('u', 'h', 'c', 127, 'sh: 1: sudo: not found')?.message).toMatch(
      /not installed/,
    );
    expect(sudoError('u', 'h', 'c', 1, 'ordinary failure')).toBeUndefined();
  });
});

describe('describeTarget', () => {
  it('shows the port only off 22 and brackets IPv6 with a port', () => {
    expect(describeTarget('root', 'h', 22)).toBe('root@h');
    expect(describeTarget('root', 'h', 2222)).toBe('root@h:2222');
    expect(describeTarget('root', '2001:db8::1', 2222)).toBe('root@[2001:db8::1]:2222');
  });
});

describe('OutputTail', () => {
  it('keeps the last 20 lines of what arrived, in order', () => {
    const tail = new OutputTail();
    for (let i = 1; i <= 5000; i++) tail.push(Buffer.from(`line ${i}\n`));
    const lines = tail.text().split('\n');
    expect(lines).toHaveLength(20);
    expect(lines[0]).toBe('line 4981');
    expect(lines[19]).toBe('line 5000');
  });

  it('joins collected stderr and stdout', () => {
    expect(OutputTail.of('err', 'out\n')).toBe('err\nout');
    expect(OutputTail.of('', '')).toBe('');
  });
});
