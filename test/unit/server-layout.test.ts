import { spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  assertPersistentDir,
  ensureUsersArgv,
  prepareEnvironmentArgv,
  removeEnvironmentArgv,
} from '../../src/server/layout.js';
import { noFollowArgv } from '../../src/server/no-follow.js';
import { envPaths } from '../../src/server/paths.js';
import {
  adoptStagingArgv,
  linkPersistentDirsArgv,
  openReleaseForBuildArgv,
  pointSlotArgv,
  removeReleasesArgv,
  removeStagingArgv,
  sealReleaseArgv,
  switchCurrentArgv,
} from '../../src/server/release-files.js';
import { CHANGED, UNCHANGED, writeFileIfChangedArgv } from '../../src/server/write-file.js';

const ID = '20261127T223015Z-3fa9';
const OLD = '20261120T100000Z-0000';
const isRoot = process.getuid?.() === 0;

/** Runs a builder's script with its arguments replaced (paths under a temp dir). */
function runScript(argv: string[], args: string[], stdin = '') {
  // Root's work on releases runs with no symlink under releases/ followed (a real mount
  // namespace, proven by the e2e suite); here the script itself runs.
  if (argv[0] === 'unshare') {
    const prefix = noFollowArgv('/srv/shop/pr-1/releases', []);
    expect(argv.slice(0, prefix.length)).toEqual(prefix);
    argv = argv.slice(prefix.length);
  }
  expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
  return spawnSync('sh', ['-c', argv[2] as string, 'sh', ...args], {
    input: stdin,
    encoding: 'utf8',
  });
}

describe('layout builders', () => {
  it('create both users of the app', () => {
    expect(ensureUsersArgv('shop').slice(3)).toEqual(['sh', 'toss-shop', 'toss-shop_pv']);
  });

  it('prepare the directories with their owners', () => {
    expect(
      prepareEnvironmentArgv(envPaths('shop', 'pr-1'), ['uploads', 'data/db']).slice(3),
    ).toEqual([
      'sh',
      '/srv/shop',
      '/srv/shop/.toss',
      '/srv/shop/.toss/secrets',
      '/srv/shop/.toss/secrets/overrides',
      '/srv/shop/pr-1',
      'toss-shop_pv',
      '/srv/shop/pr-1/releases',
      '/srv/shop/pr-1/slots',
      '/srv/shop/pr-1/env',
      '/srv/shop/pr-1/preserve',
      '/srv/shop/pr-1/cache',
      // Only the environment's user may enter its directory.
      '0750',
      'data',
      'data/db',
      'uploads',
    ]);
    expect(prepareEnvironmentArgv(envPaths('shop', 'production'))[9]).toBe('toss-shop');
    // A static site's: Caddy's user passes through to serve its files.
    expect(
      prepareEnvironmentArgv(envPaths('shop', 'production'), [], { staticSite: true }).at(-1),
    ).toBe('0751');
  });

  it.each(['', '/etc', '../x', 'a/../../b', 'a//b', './a', 'a\nb'])(
    'refuse the persistent dir %j',
    (dir) => {
      expect(() => assertPersistentDir(dir)).toThrow(/invalid persistent directory/);
    },
  );

  it('remove an environment', () => {
    expect(removeEnvironmentArgv(envPaths('shop', 'pr-1')).slice(3)).toEqual([
      'sh',
      '/srv/shop/pr-1',
      '/srv/shop/.toss/secrets/overrides/pr-1.env',
    ]);
  });

  it.skipIf(!isRoot)('prepare converges on a real file system', () => {
    const root = mkdtempSync(join(tmpdir(), 'toss-layout-'));
    const argv = prepareEnvironmentArgv(envPaths('shop', 'pr-1'), ['data/db']);
    // Same script, paths under the temp dir, an existing group instead of the app user.
    const args = argv.slice(4).map((a) => (a.startsWith('/') ? `${root}${a}` : a));
    args[5] = 'root';
    mkdirSync(`${root}/srv/shop`, { recursive: true, mode: 0o700 });
    for (let i = 0; i < 2; i++) {
      const r = runScript(argv, args);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    const mode = (p: string) => (statSync(`${root}${p}`).mode & 0o777).toString(8);
    expect(mode('/srv/shop')).toBe('755');
    expect(mode('/srv/shop/.toss')).toBe('700');
    expect(mode('/srv/shop/.toss/secrets/overrides')).toBe('700');
    expect(mode('/srv/shop/pr-1')).toBe('750');
    expect(mode('/srv/shop/pr-1/releases')).toBe('755');
    expect(mode('/srv/shop/pr-1/env')).toBe('700');
    expect(mode('/srv/shop/pr-1/preserve/data/db')).toBe('750');
    expect(mode('/srv/shop/pr-1/cache')).toBe('750');
  });
});

describe('release files', () => {
  it('build argv with values as arguments', () => {
    // Each runs with no symlink under the environment's releases/ followed.
    const noFollow = noFollowArgv('/srv/shop/pr-1/releases', []);
    const inner = (argv: string[]) => {
      expect(argv.slice(0, noFollow.length)).toEqual(noFollow);
      return argv.slice(noFollow.length);
    };
    expect(
      inner(linkPersistentDirsArgv(envPaths('shop', 'pr-1'), ID, ['uploads'])).slice(3),
    ).toEqual(['sh', `/srv/shop/pr-1/releases/${ID}`, '/srv/shop/pr-1/preserve', 'uploads']);
    expect(() => linkPersistentDirsArgv(envPaths('shop', 'pr-1'), ID, ['../etc'])).toThrow();
    expect(inner(openReleaseForBuildArgv(envPaths('shop', 'pr-1'), ID))).toEqual([
      'find',
      `/srv/shop/pr-1/releases/${ID}`,
      '-type',
      'd',
      '-exec',
      'chown',
      '-h',
      'toss-shop_pv:toss-shop_pv',
      '{}',
      '+',
    ]);
    expect(inner(sealReleaseArgv(envPaths('shop', 'pr-1'), ID)).slice(3)).toEqual([
      'sh',
      `/srv/shop/pr-1/releases/${ID}`,
      'root',
    ]);
    // A writable release's directories stay the app user's.
    expect(inner(sealReleaseArgv(envPaths('shop', 'pr-1'), ID, true)).slice(3)).toEqual([
      'sh',
      `/srv/shop/pr-1/releases/${ID}`,
      'toss-shop_pv',
    ]);
    expect(pointSlotArgv(envPaths('shop', 'pr-1'), 3001, ID).slice(3)).toEqual([
      'sh',
      `../releases/${ID}`,
      '/srv/shop/pr-1/slots/3001',
      `${ID}.env`,
      '/srv/shop/pr-1/env/slot-3001.env',
    ]);
    expect(switchCurrentArgv(envPaths('shop', 'pr-1'), ID).slice(3)).toEqual([
      'sh',
      `releases/${ID}`,
      '/srv/shop/pr-1/current',
    ]);
    expect(removeReleasesArgv(envPaths('shop', 'pr-1'), [ID, OLD]).slice(3)).toEqual([
      'sh',
      '/srv/shop/pr-1/releases',
      `/srv/shop/pr-1/releases/${ID}`,
      `/srv/shop/pr-1/env/${ID}.env`,
      `/srv/shop/pr-1/releases/${OLD}`,
      `/srv/shop/pr-1/env/${OLD}.env`,
    ]);
    expect(adoptStagingArgv(envPaths('shop', 'pr-1'), OLD, ID)).toEqual([
      'mv',
      '-T',
      '--',
      `/srv/shop/pr-1/releases/.incoming-${OLD}`,
      `/srv/shop/pr-1/releases/${ID}`,
    ]);
    expect(removeStagingArgv(envPaths('shop', 'pr-1'), [ID])).toEqual([
      'rm',
      '-rf',
      '--',
      `/srv/shop/pr-1/releases/.incoming-${ID}`,
    ]);
  });

  it('links persistent dirs over what the repository shipped', () => {
    const env = mkdtempSync(join(tmpdir(), 'toss-release-'));
    const release = join(env, 'releases', ID);
    const preserve = join(env, 'preserve');
    mkdirSync(join(release, 'uploads'), { recursive: true });
    writeFileSync(join(release, 'uploads', '.gitkeep'), '');
    mkdirSync(join(preserve, 'data', 'db'), { recursive: true });
    const argv = linkPersistentDirsArgv(envPaths('shop', 'pr-1'), ID, ['uploads', 'data/db']);
    const r = runScript(argv, [release, preserve, 'uploads', 'data/db']);
    expect(r.stderr).toBe('');
    expect(readlinkSync(join(release, 'uploads'))).toBe(join(preserve, 'uploads'));
    expect(readlinkSync(join(release, 'data', 'db'))).toBe(join(preserve, 'data', 'db'));
    // Idempotent.
    expect(runScript(argv, [release, preserve, 'uploads', 'data/db']).status).toBe(0);
  });

  it('refuses to follow a symlink the repository planted out of the release', () => {
    const env = mkdtempSync(join(tmpdir(), 'toss-release-'));
    const release = join(env, 'releases', ID);
    const outside = join(env, 'outside');
    mkdirSync(release, { recursive: true });
    mkdirSync(outside);
    symlinkSync(outside, join(release, 'data'));
    const argv = linkPersistentDirsArgv(envPaths('shop', 'pr-1'), ID, ['data/db']);
    const r = runScript(argv, [release, join(env, 'preserve'), 'data/db']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('leads outside the release');
    expect(existsSync(join(outside, 'db'))).toBe(false);
  });

  it('switches slot, env file and current atomically and idempotently', () => {
    const env = mkdtempSync(join(tmpdir(), 'toss-switch-'));
    mkdirSync(join(env, 'slots'));
    mkdirSync(join(env, 'env'));
    for (const id of [OLD, ID]) {
      const argv = pointSlotArgv(envPaths('shop', 'pr-1'), 3001, id);
      const r = runScript(argv, [
        `../releases/${id}`,
        join(env, 'slots', '3001'),
        `${id}.env`,
        join(env, 'env', 'slot-3001.env'),
      ]);
      expect(r.status).toBe(0);
      const current = switchCurrentArgv(envPaths('shop', 'pr-1'), id);
      expect(runScript(current, [`releases/${id}`, join(env, 'current')]).status).toBe(0);
    }
    expect(readlinkSync(join(env, 'slots', '3001'))).toBe(`../releases/${ID}`);
    expect(readlinkSync(join(env, 'env', 'slot-3001.env'))).toBe(`${ID}.env`);
    expect(readlinkSync(join(env, 'current'))).toBe(`releases/${ID}`);
    expect(lstatSync(join(env, 'current')).isSymbolicLink()).toBe(true);
    expect(existsSync(join(env, 'current.toss-new'))).toBe(false);
  });

  it.skipIf(!isRoot)('seals a release: root-owned, readable, not group/world-writable', () => {
    const release = mkdtempSync(join(tmpdir(), 'toss-seal-'));
    mkdirSync(join(release, 'dist'));
    writeFileSync(join(release, 'dist', 'a.js'), 'x', { mode: 0o600 });
    writeFileSync(join(release, 'run.sh'), 'x', { mode: 0o770 });
    // A file of the build's with another name outside (a package store), and one of root's
    // linked from the live release with a mode the seal would otherwise change.
    const outside = mkdtempSync(join(tmpdir(), 'toss-store-'));
    writeFileSync(join(outside, 'pkg.js'), 'store', { mode: 0o600 });
    chownSync(join(outside, 'pkg.js'), 65534, 65534);
    linkSync(join(outside, 'pkg.js'), join(release, 'dist', 'pkg.js'));
    writeFileSync(join(outside, 'secret'), 'root only', { mode: 0o600 });
    linkSync(join(outside, 'secret'), join(release, 'secret'));
    const r = runScript(sealReleaseArgv(envPaths('shop', 'pr-1'), ID), [release, 'root']);
    expect(r.status).toBe(0);
    expect(statSync(join(release, 'dist', 'a.js')).mode & 0o777).toBe(0o644);
    expect(statSync(join(release, 'run.sh')).mode & 0o777).toBe(0o755);
    // The release's copy is root's and readable; the store's file is as it was.
    const own = statSync(join(release, 'dist', 'pkg.js'));
    expect([own.uid, own.mode & 0o777, own.nlink]).toEqual([0, 0o644, 1]);
    const store = statSync(join(outside, 'pkg.js'));
    expect([store.uid, store.mode & 0o777, store.nlink]).toEqual([65534, 0o600, 1]);
    const secret = statSync(join(outside, 'secret'));
    expect([secret.uid, secret.mode & 0o777, secret.nlink]).toEqual([0, 0o600, 2]);
  });

  it.skipIf(!isRoot)(
    "seals a writable release in the same walk: directories the app user's, files root's",
    () => {
      const release = mkdtempSync(join(tmpdir(), 'toss-seal-'));
      mkdirSync(join(release, 'dist', 'deep'), { recursive: true });
      writeFileSync(join(release, 'dist', 'deep', 'a.js'), 'x', { mode: 0o666 });
      // What the build made is the build user's (here `daemon`, uid and gid 1).
      chownSync(join(release, 'dist', 'deep', 'a.js'), 1, 1);
      chownSync(join(release, 'dist', 'deep'), 1, 1);
      // A directory of the user's with another group, as a setgid parent would leave it.
      mkdirSync(join(release, 'other'));
      chownSync(join(release, 'other'), 1, 0);
      const r = runScript(sealReleaseArgv(envPaths('shop', 'pr-1'), ID, true), [release, 'daemon']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      for (const dir of ['', 'dist', 'dist/deep', 'other']) {
        const st = statSync(join(release, dir));
        expect([dir, st.uid, st.gid, st.mode & 0o777]).toEqual([dir, 1, 1, 0o755]);
      }
      const file = statSync(join(release, 'dist', 'deep', 'a.js'));
      expect([file.uid, file.gid, file.mode & 0o777]).toEqual([0, 0, 0o644]);
    },
  );
});

describe('removing releases', () => {
  it('renames them out of the way at once and deletes them (and old trash) in the background', async () => {
    const env = mkdtempSync(join(tmpdir(), 'toss-remove-'));
    const releases = join(env, 'releases');
    for (const id of [ID, OLD, '20261101T000000Z-aaaa']) {
      mkdirSync(join(releases, id, 'deep', 'er'), { recursive: true });
      writeFileSync(join(releases, id, 'deep', 'er', 'f'), 'x');
    }
    mkdirSync(join(releases, '.trash-left-by-a-crash'));
    mkdirSync(join(env, 'env'));
    writeFileSync(join(env, 'env', `${ID}.env`), 'A=1\n');
    const r = runScript(removeReleasesArgv(envPaths('shop', 'pr-1'), [ID, OLD]), [
      releases,
      join(releases, ID),
      join(env, 'env', `${ID}.env`),
      join(releases, OLD),
      join(env, 'env', `${OLD}.env`),
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // Gone from their names as soon as the command returns; the trash goes shortly after.
    expect(existsSync(join(releases, ID))).toBe(false);
    expect(existsSync(join(env, 'env', `${ID}.env`))).toBe(false);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && readdirSync(releases).length > 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(readdirSync(releases)).toEqual(['20261101T000000Z-aaaa']);
  });
});

describe('writeFileIfChangedArgv', () => {
  it('passes path, mode and owner as arguments', () => {
    expect(
      writeFileIfChangedArgv({ path: '/etc/systemd/system/x@.service', mode: 0o644 }).slice(3),
    ).toEqual(['sh', '/etc/systemd/system/x@.service', '644', 'root:root']);
    expect(() => writeFileIfChangedArgv({ path: 'relative', mode: 0o644 })).toThrow();
    expect(() => writeFileIfChangedArgv({ path: '/a', mode: 0o644, owner: 'a b' })).toThrow();
  });

  it.skipIf(!isRoot)('writes only when content, mode or owner change', () => {
    const dir = mkdtempSync(join(tmpdir(), 'toss-write-'));
    const file = join(dir, 'sub', 'unit.service');
    const write = (content: string, mode: number) =>
      spawnSync('sh', writeFileIfChangedArgv({ path: file, mode }).slice(1), {
        input: content,
        encoding: 'utf8',
      });
    expect(write('a\n', 0o644).stdout).toBe(`${CHANGED}\n`);
    expect(write('a\n', 0o644).stdout).toBe(`${UNCHANGED}\n`);
    expect(write('a\n', 0o600).stdout).toBe(`${CHANGED}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(write('b\n', 0o600).stdout).toBe(`${CHANGED}\n`);
    expect(readFileSync(file, 'utf8')).toBe('b\n');
    expect(spawnSync('ls', ['-A', join(dir, 'sub')], { encoding: 'utf8' }).stdout).toBe(
      'unit.service\n',
    );
  });
});
