import { spawn, spawnSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runRsync } from '../../src/pipeline/upload.js';
import type { TunnelResult } from '../../src/remote/connection.js';
import {
  buildRsyncArgv,
  parseTunnelFrame,
  rsyncShellWord,
  tunnelRemoteShell,
} from '../../src/server/rsync.js';
import { systemSshArgv } from '../../src/server/shell.js';

const SSH = systemSshArgv({
  port: 2222,
  identityFile: '/tmp/toss key/id',
  knownHostsFile: '/tmp/toss/known_hosts',
});

/** Writes `files` (relative path → content) under `root`, making their directories. */
function writeTree(root: string, files: Record<string, string>, mode?: number): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(root, name, '..'), { recursive: true });
    writeFileSync(join(root, name), content, mode === undefined ? {} : { mode });
  }
}

/** Runs an upload's rsync argv with a local destination instead; its stderr. */
function rsyncLocally(argv: string[], release: string): string {
  const local = [...argv.slice(1, -4), argv.at(-2) as string, `${release}/`];
  return spawnSync('rsync', local, { encoding: 'utf8' }).stderr;
}

/** `find . <tests>` in `dir`, sorted. */
function filesIn(dir: string, tests: string[]): string[] {
  return spawnSync('find', ['.', ...tests], { cwd: dir, encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .sort();
}

describe('systemSshArgv', () => {
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
    const argv = systemSshArgv({
      port: 22,
      knownHostsFile: '/tmp/my dir/kh',
      hostKeyAlias: 'toss-target',
    });
    expect(argv).not.toContain('-i');
    expect(argv).not.toContain('IdentitiesOnly=yes');
    expect(argv).toContain('UserKnownHostsFile="/tmp/my dir/kh"');
    expect(argv.slice(-2)).toEqual(['-o', 'HostKeyAlias=toss-target']);
    expect(() => systemSshArgv({ port: 22, knownHostsFile: '/tmp/a"b' })).toThrow();
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

describe('parseTunnelFrame', () => {
  const frame = (...words: string[]) => Buffer.from(words.map((w) => `${w}\0`).join(''));

  it('waits for the whole frame, then gives the command line and the data after it', () => {
    const whole = Buffer.concat([
      frame('4', 'toss-connection', 'rsync', '--server', '.'),
      Buffer.from('DATA'),
    ]);
    for (let cut = 0; cut < whole.length - 4; cut++) {
      expect(parseTunnelFrame(whole.subarray(0, cut), false)).toBeUndefined();
    }
    const parsed = parseTunnelFrame(whole, false);
    expect(parsed?.command).toBe('rsync --server .');
    expect(parsed?.rest.toString()).toBe('DATA');
  });

  it('accepts only rsync’s own server side, through sudo when the login is not root', () => {
    const sudo = frame('5', 'toss-connection', 'sudo -n rsync', '--server', '-r', '.');
    expect(parseTunnelFrame(sudo, true)?.command).toBe('sudo -n rsync --server -r .');
    expect(() => parseTunnelFrame(sudo, false)).toThrow(/something else/);
    expect(() => parseTunnelFrame(frame('3', 'evil', 'rsync', '--server'), false)).toThrow();
    expect(() => parseTunnelFrame(frame('3', 'toss-connection', 'sh', '-c'), false)).toThrow(
      /something else/,
    );
    expect(() => parseTunnelFrame(frame('x', 'a'), false)).toThrow(/bad frame/);
    expect(() => parseTunnelFrame(frame('1', 'toss-connection'), false)).toThrow(/bad frame/);
  });
});

const RELEASE = '/srv/shop/pr-1/releases/20261127T223015Z-3fa9';
const LIVE = '/srv/shop/pr-1/releases/20261120T100000Z-0000';

describe('buildRsyncArgv', () => {
  it('builds the exact command for a non-root login', () => {
    expect(
      buildRsyncArgv({
        source: '/home/me/shop',
        dest: RELEASE,
        remoteShell: tunnelRemoteShell(),
        linkDest: LIVE,
        excludes: ['*.log', '/tmp/'],
        sudo: true,
      }),
    ).toEqual([
      'rsync',
      '-rlpz',
      '--no-inc-recursive',
      '--delete',
      '--chmod=D0755,Fu+rw,Fgo+rX,Fgo-w',
      '--chown=root:root',
      '--checksum',
      `--link-dest=${LIVE}`,
      '--filter=- .git',
      '--filter=- node_modules',
      '--filter=- .env*',
      '--filter=- .DS_Store',
      '--filter=- .toss',
      '--filter=- *.log',
      '--filter=- /tmp/',
      '--filter=:- .gitignore',
      '--filter=:- .tossignore',
      '--rsync-path=sudo -n rsync',
      '-e',
      `sh -c 'printf "%s\\0" "$#" "$@" >&3 || exit 1; exec 4<&0; cat <&4 >&3 & cat <&3; kill $! 2>/dev/null; exit 0' toss-rsync-tunnel`,
      '/home/me/shop/',
      `toss-connection:${RELEASE}/`,
    ]);
  });

  it('leaves out sudo, --link-dest and --checksum for a root first deploy; protects odd sources', () => {
    const argv = buildRsyncArgv({
      source: '-weird:dir',
      dest: RELEASE,
      remoteShell: 'sh',
      sudo: false,
    });
    expect(argv.some((a) => a.startsWith('--link-dest') || a.startsWith('--rsync-path'))).toBe(
      false,
    );
    // Nothing to compare with: every file goes, no checksum is read before.
    expect(argv).not.toContain('--checksum');
    expect(argv.slice(-2)).toEqual(['./-weird:dir/', `toss-connection:${RELEASE}/`]);
  });

  it('refuses a relative --link-dest and a multi-line exclude', () => {
    const base = {
      source: '/a',
      dest: RELEASE,
      remoteShell: 'sh',
      sudo: false,
    };
    expect(() => buildRsyncArgv({ ...base, linkDest: 'releases/x' })).toThrow();
    expect(() => buildRsyncArgv({ ...base, excludes: ['a\n+ /etc'] })).toThrow();
  });

  const hasRsync = spawnSync('rsync', ['--version']).status === 0;

  /** The far end of the tunnel as a local process: what the server would run, here. */
  const localFarEnd =
    (seen: string[], override?: string) =>
    (command: string, socket: Duplex): Promise<TunnelResult> =>
      new Promise((resolve) => {
        seen.push(command);
        const far = spawn('sh', ['-c', override ?? command], { stdio: ['pipe', 'pipe', 'pipe'] });
        let stderr = '';
        far.stderr.on('data', (c: Buffer) => {
          stderr += c;
        });
        // The far end may exit without reading everything (a refusal): not this test's error.
        far.stdin.on('error', () => {});
        socket.pipe(far.stdin);
        far.stdout.pipe(socket);
        far.on('close', (code, signal) => resolve({ code, signal, stderr }));
      });

  it.skipIf(!hasRsync)(
    'uploads through the tunnel: rsync’s -e, the frame and the data both ways',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'toss-rsync-tunnel-'));
      const src = join(dir, 'src');
      mkdirSync(join(src, 'a b', "it's"), { recursive: true });
      writeFileSync(join(src, 'a b', "it's", 'file.txt'), 'x'.repeat(300_000));
      writeFileSync(join(src, 'top.js'), 'top');
      const dest = join(dir, 'release with space');
      const seen: string[] = [];
      const argv = buildRsyncArgv({
        source: src,
        dest,
        remoteShell: tunnelRemoteShell(),
        sudo: false,
      });
      await runRsync(argv, false, localFarEnd(seen));
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatch(/^rsync --server .* \. .*release\\ with\\ space\/$/);
      expect(readFileSync(join(dest, 'a b', "it's", 'file.txt'), 'utf8')).toBe('x'.repeat(300_000));
      expect(readFileSync(join(dest, 'top.js'), 'utf8')).toBe('top');
    },
  );

  it.skipIf(!hasRsync)('fails with the far end’s own words when it cannot run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'toss-rsync-tunnel-'));
    mkdirSync(join(dir, 'src'));
    const argv = buildRsyncArgv({
      source: join(dir, 'src'),
      dest: join(dir, 'dest'),
      remoteShell: tunnelRemoteShell(),
      sudo: true,
    });
    const seen: string[] = [];
    const failing = localFarEnd(seen, 'echo "sudo: a password is required" >&2; exit 1');
    await expect(runRsync(argv, true, failing)).rejects.toThrow(/a password is required/);
    expect(seen[0]).toMatch(/^sudo -n rsync --server /);
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
      writeTree(src, files, 0o600);
      const live = join(dir, 'live');
      mkdirSync(live);
      writeFileSync(join(live, 'server.js'), 'same', { mode: 0o644 });
      writeFileSync(join(live, 'changed.js'), 'old', { mode: 0o644 });
      // A fresh CI checkout: every mtime differs from the live release's.
      utimesSync(join(live, 'server.js'), new Date('2020-01-01'), new Date('2020-01-01'));
      const release = join(dir, 'release');
      const argv = buildRsyncArgv({
        source: src,
        dest: release,
        remoteShell: 'sh',
        linkDest: live,
        excludes: ['/tmp/'],
        sudo: false,
      });
      expect(rsyncLocally(argv, release)).toBe('');
      const listed = filesIn(release, ['-type', 'f']);
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
  it.skipIf(!hasRsync)(
    'a built tree goes up as built: node_modules and git-ignored files, never .git, .env*, .tossignore entries or exclude',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'toss-rsync-built-'));
      const src = join(dir, 'src');
      const files: Record<string, string> = {
        'server.js': 'x',
        '.gitignore': 'dist/\n*.log\nnode_modules/\n',
        '.tossignore': 'secret.txt\n',
        'secret.txt': 'x',
        'app.log': 'x',
        'dist/bundle.js': 'x',
        '.env.local': 'x',
        '.git/HEAD': 'x',
        'node_modules/a/index.js': 'x',
        'lib/.gitignore': 'generated.js\n',
        'lib/generated.js': 'x',
        'lib/.DS_Store': 'x',
        'tmp/x': 'x',
      };
      writeTree(src, files);
      const release = join(dir, 'release');
      const argv = buildRsyncArgv({
        source: src,
        dest: release,
        remoteShell: 'sh',
        excludes: ['/tmp/'],
        built: true,
        sudo: false,
      });
      expect(rsyncLocally(argv, release)).toBe('');
      const listed = filesIn(release, ['-type', 'f']);
      expect(listed).toEqual([
        './.gitignore',
        './.tossignore',
        './app.log',
        './dist/bundle.js',
        './lib/.gitignore',
        './lib/generated.js',
        './node_modules/a/index.js',
        './server.js',
      ]);
    },
  );
  // What an attacker would put in `exclude` or in the checkout's own ignore files to get the
  // job's token (.git/config) or .env files uploaded. Every case runs the real rsync through the
  // tunnel, with its server side as a separate process, as an upload does.
  const HOSTILE_EXCLUDES: Array<[string, string[]]> = [
    ['no excludes', []],
    ['"!" (rsync\'s clear-the-list)', ['!']],
    ['an include rule for .git', ['+ .git']],
    ['include rules with modifiers', ['+,! .git', '+ *', '+ .git/***']],
    ['"- !" and "clear"', ['- !', 'clear']],
    ['"!" after an ordinary pattern', ['*.log', '!', '+ .env']],
  ];

  it.each(
    HOSTILE_EXCLUDES.flatMap(([name, excludes]) => [
      [name, excludes, false] as const,
      [`${name}, built tree`, excludes, true] as const,
    ]),
  )(
    'exclude %s: .git, .env*, .DS_Store and .toss are never uploaded (nor node_modules unless built)',
    async (_name, excludes, built) => {
      const dir = mkdtempSync(join(tmpdir(), 'toss-rsync-hostile-'));
      const src = join(dir, 'src');
      const outside = join(dir, 'outside');
      mkdirSync(outside);
      writeFileSync(join(outside, 'id'), 'PRIVATE KEY');
      const files: Record<string, string> = {
        'server.js': 'app',
        '.git/config': '[http] extraheader = AUTHORIZATION: basic dG9rZW4=',
        '.env': 'SECRET=1',
        '.env.production': 'SECRET=2',
        'node_modules/a/index.js': 'x',
        '.DS_Store': 'x',
        '.toss/state': 'x',
        // The checkout's own ignore files try the same: "!" and include lines.
        '.gitignore': '!\n+ .git\n+ .env*\n',
        '.tossignore': '!\n',
        'sub/.gitignore': '!\n+ *\n',
        'sub/.git/config': 'token',
        'sub/keep.js': 'x',
      };
      writeTree(src, files);
      symlinkSync(join(outside, 'id'), join(src, 'key-link'));
      const release = join(dir, 'release');
      const argv = buildRsyncArgv({
        source: src,
        dest: release,
        remoteShell: tunnelRemoteShell(),
        excludes: [...excludes],
        built,
        sudo: false,
      });
      await runRsync(argv, false, localFarEnd([]));
      const listed = filesIn(release, ['!', '-type', 'd']);
      expect(listed).toEqual([
        './.gitignore',
        './.tossignore',
        './key-link',
        ...(built ? ['./node_modules/a/index.js'] : []),
        './server.js',
        './sub/.gitignore',
        './sub/keep.js',
      ]);
      // A symlink in the checkout goes up as that symlink: rsync never copies what it points at.
      expect(lstatSync(join(release, 'key-link')).isSymbolicLink()).toBe(true);
      expect(readlinkSync(join(release, 'key-link'))).toBe(join(outside, 'id'));
    },
  );
});
