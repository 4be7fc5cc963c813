import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConnectionError } from '../../src/errors.js';
import { resolveSshTarget } from '../../src/remote/ssh-target.js';

function home(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'toss-home-'));
  mkdirSync(join(dir, '.ssh'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, '.ssh', name), text);
  return dir;
}

const CONFIG = `
Host prod
  HostName 203.0.113.10
  User deploy
  Port 2222
  IdentityFile ~/.ssh/prod_key

Host jumpy
  HostName 10.0.0.5
  ProxyJump bastion

Host *
  User fallback
`;

describe('resolveSshTarget', () => {
  it('honours a ~/.ssh/config alias: HostName, User, Port, IdentityFile', async () => {
    const dir = home({ config: CONFIG, prod_key: 'PROD KEY', known_hosts: 'kh' });
    const target = await resolveSshTarget({ host: 'prod' }, {}, dir);
    expect(target).toMatchObject({
      alias: 'prod',
      host: '203.0.113.10',
      user: 'deploy',
      port: 2222,
      privateKey: 'PROD KEY',
      identityFile: join(dir, '.ssh/prod_key'),
      knownHosts: 'kh',
    });
  });

  it('lets user and port written in server win over the config', async () => {
    const dir = home({ config: CONFIG, prod_key: 'K' });
    const target = await resolveSshTarget({ host: 'prod', user: 'root', port: 22 }, {}, dir);
    expect(target).toMatchObject({ user: 'root', port: 22, host: '203.0.113.10' });
  });

  it('refuses ProxyJump with a clear message', async () => {
    const dir = home({ config: CONFIG, id_ed25519: 'K' });
    await expect(resolveSshTarget({ host: 'jumpy' }, {}, dir)).rejects.toThrow(
      /sets ProxyJump for jumpy; toss connects directly/,
    );
  });

  it('takes TOSS_SSH_KEY and TOSS_KNOWN_HOSTS over the defaults', async () => {
    const dir = home({ id_ed25519: 'DEFAULT', other: 'OTHER', kh2: 'line' });
    const target = await resolveSshTarget(
      { host: 'example.com' },
      { TOSS_SSH_KEY: join(dir, '.ssh/other'), TOSS_KNOWN_HOSTS: join(dir, '.ssh/kh2') },
      dir,
    );
    expect(target).toMatchObject({
      privateKey: 'OTHER',
      knownHosts: 'line',
      user: 'root',
      port: 22,
    });
  });

  it('falls back to the default key files in ssh order, then the agent', async () => {
    const dir = home({ id_rsa: 'RSA', id_ecdsa: 'ECDSA' });
    expect((await resolveSshTarget({ host: 'h' }, {}, dir)).privateKey).toBe('ECDSA');
    const bare = home({});
    expect(
      await resolveSshTarget({ host: 'h' }, { SSH_AUTH_SOCK: '/tmp/agent' }, bare),
    ).toMatchObject({
      agent: '/tmp/agent',
    });
    await expect(resolveSshTarget({ host: 'h' }, {}, bare)).rejects.toThrow(ConnectionError);
  });

  it('reports a missing --identity file', async () => {
    const dir = home({});
    await expect(resolveSshTarget({ host: 'h', identity: '~/.ssh/nope' }, {}, dir)).rejects.toThrow(
      `identity file ${join(dir, '.ssh/nope')} does not exist`,
    );
  });
});
