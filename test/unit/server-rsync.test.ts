import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildRsyncArgv,
  rsyncDestination,
  rsyncShellWord,
  sshArgvForRsync,
} from '../../src/server/rsync.js';

const SSH = sshArgvForRsync({
  port: 2222,
  identityFile: '/tmp/toss key/id',
  knownHostsFile: '/tmp/toss/known_hosts',
});

describe('sshArgvForRsync', () => {
  it('builds the exact ssh', () => {
    expect(SSH).toEqual([
      'ssh',
      '-F',
      '/dev/null',
      '-p',
      '2222',
      '-i',
      '/tmp/toss key/id',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'UserKnownHostsFile=/tmp/toss/known_hosts',
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'ConnectTimeout=30',
      '-o',
      'ServerAliveInterval=15',
      '-o',
      'ServerAliveCountMax=4',
    ]);
  });

  it('uses the agent without an identity file, quotes a known_hosts path with spaces', () => {
    const argv = sshArgvForRsync({
      port: 22,
      knownHostsFile: '/tmp/my dir/kh',
      hostKeyAlias: 'toss-target',
    });
    expect(argv).not.toContain('-i');
    expect(argv).not.toContain('IdentitiesOnly=yes');
    expect(argv).toContain('UserKnownHostsFile="/tmp/my dir/kh"');
    expect(argv.slice(-2)).toEqual(['-o', 'HostKeyAlias=toss-target']);
    expect(() => sshArgvForRsync({ port: 22, knownHostsFile: '/tmp/a"b' })).toThrow();
  });
});

describe('rsyncShellWord', () => {
  it.each([
    ['ssh', 'ssh'],
    ['UserKnownHostsFile=/tmp/kh', 'UserKnownHostsFile=/tmp/kh'],
    ['/tmp/toss key/id', "'/tmp/toss key/id'"],
    ["it's", "'it''s'"],
    ['', "''"],
    ['a"b', `'a"b'`],
  ])('%j → %s', (word, quoted) => {
    expect(rsyncShellWord(word)).toBe(quoted);
  });
});

describe('rsyncDestination', () => {
  it.each([
    ['root', 'example.com', '/srv/a', 'root@example.com:/srv/a'],
    ['deploy', '203.0.113.10', '/srv/a', 'deploy@203.0.113.10:/srv/a'],
    ['deploy', '2001:db8::1', '/srv/a', 'deploy@[2001:db8::1]:/srv/a'],
  ])('%s %s %s', (user, host, path, expected) => {
    expect(rsyncDestination(user, host, path)).toBe(expected);
  });

  it.each([
    ['-oProxyCommand=x', 'h', '/a'],
    ['u', 'h;x', '/a'],
    ['u', 'h', 'relative'],
  ])('refuses %s %s %s', (user, host, path) => {
    expect(() => rsyncDestination(user, host, path)).toThrow();
  });
});

const RELEASE = '/srv/shop/pr-1/releases/20261127T223015Z-3fa9';
const LIVE = '/srv/shop/pr-1/releases/20261120T100000Z-0000';

describe('buildRsyncArgv', () => {
  it('builds the exact command for a non-root login', () => {
    expect(
      buildRsyncArgv({
        source: '/home/me/shop',
        dest: { user: 'deploy', host: '2001:db8::1', path: RELEASE },
        sshCommand: SSH,
        linkDest: LIVE,
        excludes: ['*.log', '/tmp/'],
        sudo: true,
      }),
    ).toEqual([
      'rsync',
      '-rlpz',
      '--checksum',
      '--delete',
      '--chmod=D0755,Fu+rw,Fgo+rX,Fgo-w',
      `--link-dest=${LIVE}`,
      '--exclude=.git',
      '--exclude=node_modules',
      '--exclude=.env*',
      '--exclude=.DS_Store',
      '--exclude=.toss',
      '--exclude=*.log',
      '--exclude=/tmp/',
      '--filter=:- .gitignore',
      '--filter=:- .tossignore',
      '--rsync-path=sudo -n rsync',
      '-e',
      "ssh -F /dev/null -p 2222 -i '/tmp/toss key/id' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/tmp/toss/known_hosts -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4",
      '/home/me/shop/',
      `deploy@[2001:db8::1]:${RELEASE}/`,
    ]);
  });

  it('leaves out sudo and --link-dest for a root first deploy; protects odd sources', () => {
    const argv = buildRsyncArgv({
      source: '-weird:dir',
      dest: { user: 'root', host: 'example.com', path: RELEASE },
      sshCommand: ['ssh'],
      sudo: false,
    });
    expect(argv.some((a) => a.startsWith('--link-dest') || a.startsWith('--rsync-path'))).toBe(
      false,
    );
    expect(argv.slice(-2)).toEqual(['./-weird:dir/', `root@example.com:${RELEASE}/`]);
  });

  it('refuses a relative --link-dest and a multi-line exclude', () => {
    const base = {
      source: '/a',
      dest: { user: 'root', host: 'h', path: RELEASE },
      sshCommand: ['ssh'],
      sudo: false,
    };
    expect(() => buildRsyncArgv({ ...base, linkDest: 'releases/x' })).toThrow();
    expect(() => buildRsyncArgv({ ...base, excludes: ['a\n+ /etc'] })).toThrow();
  });

  const hasRsync = spawnSync('rsync', ['--version']).status === 0;

  it.skipIf(!hasRsync)('hands ssh its arguments intact through rsync’s own -e splitting', () => {
    const dir = mkdtempSync(join(tmpdir(), 'toss-rsync-e-'));
    const fake = join(dir, 'fake ssh');
    const log = join(dir, 'args');
    writeFileSync(
      fake,
      `#!/bin/sh\nfor a in "$@"; do printf '[%s]\\n' "$a"; done > '${log}'\nexit 1\n`,
      {
        mode: 0o755,
      },
    );
    mkdirSync(join(dir, 'src'));
    const argv = buildRsyncArgv({
      source: join(dir, 'src'),
      dest: { user: 'deploy', host: '2001:db8::1', path: '/srv/a' },
      sshCommand: [fake, '-i', "/tmp/it's a key", '-o', 'UserKnownHostsFile="/tmp/k h"'],
      sudo: true,
    });
    spawnSync(argv[0] as string, argv.slice(1));
    const args = readFileSync(log, 'utf8').split('\n');
    expect(args.slice(0, 4)).toEqual([
      '[-i]',
      "[/tmp/it's a key]",
      '[-o]',
      '[UserKnownHostsFile="/tmp/k h"]',
    ]);
    expect(args).toContain('[2001:db8::1]');
    expect(args).toContain('[sudo -n rsync]');
  });

  it.skipIf(!hasRsync)(
    'excludes the defaults and nested .gitignore entries, and hard-links unchanged files',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'toss-rsync-'));
      const src = join(dir, 'src');
      const files: Record<string, string> = {
        'server.js': 'same',
        'changed.js': 'new',
        '.gitignore': 'dist/\n*.log\n',
        '.tossignore': 'secret.txt\n',
        'secret.txt': 'x',
        'app.log': 'x',
        'dist/bundle.js': 'x',
        '.env.local': 'x',
        '.git/HEAD': 'x',
        'node_modules/a/index.js': 'x',
        'lib/.gitignore': 'generated.js\n',
        'lib/generated.js': 'x',
        'lib/keep.js': 'x',
        'lib/.DS_Store': 'x',
        'tmp/x': 'x',
      };
      for (const [name, content] of Object.entries(files)) {
        mkdirSync(join(src, name, '..'), { recursive: true });
        writeFileSync(join(src, name), content, { mode: 0o600 });
      }
      const live = join(dir, 'live');
      mkdirSync(live);
      writeFileSync(join(live, 'server.js'), 'same', { mode: 0o644 });
      writeFileSync(join(live, 'changed.js'), 'old', { mode: 0o644 });
      // A fresh CI checkout: every mtime differs from the live release's.
      utimesSync(join(live, 'server.js'), new Date('2020-01-01'), new Date('2020-01-01'));
      const release = join(dir, 'release');
      const argv = buildRsyncArgv({
        source: src,
        dest: { user: 'root', host: 'h', path: release },
        sshCommand: ['ssh'],
        linkDest: live,
        excludes: ['/tmp/'],
        sudo: false,
      });
      // Same flags, local destination.
      const local = [...argv.slice(1, -4), argv.at(-2) as string, `${release}/`];
      const run = spawnSync('rsync', local, { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      const listed = spawnSync('find', ['.', '-type', 'f'], { cwd: release, encoding: 'utf8' })
        .stdout.split('\n')
        .filter(Boolean)
        .sort();
      expect(listed).toEqual([
        './.gitignore',
        './.tossignore',
        './changed.js',
        './lib/.gitignore',
        './lib/keep.js',
        './server.js',
      ]);
      expect(statSync(join(release, 'server.js')).nlink).toBe(2);
      expect(statSync(join(release, 'changed.js')).nlink).toBe(1);
      expect(statSync(join(release, 'lib/keep.js')).mode & 0o777).toBe(0o644);
      expect(statSync(join(release, 'lib')).mode & 0o777).toBe(0o755);
    },
  );
});
