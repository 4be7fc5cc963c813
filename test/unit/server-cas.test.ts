import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ABSENT,
  CAS_CONFLICT_EXIT,
  CAS_INCOMPLETE_EXIT,
  casWriteArgv,
  guardedArgv,
  parseReadWithSha,
  readWithShaArgv,
  sha256Hex,
  TOKEN_MISMATCH_EXIT,
} from '../../src/server/cas.js';
import { createLock } from '../../src/server/lock.js';
import { emptyState, serializeState, setLock } from '../../src/server/state.js';

// The scripts need only sh, coreutils and flock: run them here as the server would.
const hasFlock = spawnSync('flock', ['--version']).status === 0;

function run(argv: string[], stdin = '') {
  return spawnSync(argv[0] as string, argv.slice(1), { input: stdin, encoding: 'utf8' });
}

function paths() {
  const dir = mkdtempSync(join(tmpdir(), 'toss-cas-'));
  return { dir, file: join(dir, '.toss', 'state.json'), lock: join(dir, '.toss', 'state.lock') };
}

describe('compare-and-swap builders', () => {
  it('pass values only as arguments', () => {
    const read = readWithShaArgv('/srv/a/.toss/state.json', '/srv/a/.toss/state.lock');
    expect(read.slice(3)).toEqual(['sh', '/srv/a/.toss/state.json', '/srv/a/.toss/state.lock']);
    const write = casWriteArgv({
      file: '/srv/a/.toss/state.json',
      lockFile: '/srv/a/.toss/state.lock',
      expectedSha: ABSENT,
      content: '{}\n',
    });
    expect(write.argv.slice(3)).toEqual([
      'sh',
      '/srv/a/.toss/state.json',
      '/srv/a/.toss/state.lock',
      'absent',
      sha256Hex('{}\n'),
      '0600',
    ]);
    expect(write.stdin).toBe('{}\n');
    expect(write.argv[2]).not.toContain('/srv');
  });

  it('refuse a malformed expected checksum', () => {
    expect(() =>
      casWriteArgv({ file: '/f', lockFile: '/l', expectedSha: 'abc; rm -rf /', content: '' }),
    ).toThrow(/invalid expected checksum/);
  });

  it('parse the read output', () => {
    const sha = sha256Hex('x\n');
    expect(parseReadWithSha('absent\n')).toEqual({ sha: ABSENT, content: null });
    expect(parseReadWithSha(`${sha}\nx\n`)).toEqual({ sha, content: 'x\n' });
    expect(parseReadWithSha(`${sha}\n`)).toEqual({ sha, content: '' });
    expect(() => parseReadWithSha('sh: flock: not found\n')).toThrow(/unexpected output/);
  });
});

describe.skipIf(!hasFlock)('compare-and-swap on a real file system', () => {
  it('reads nothing and creates nothing where there is no directory', () => {
    const p = paths();
    const read = run(readWithShaArgv(p.file, p.lock));
    expect(read.status).toBe(0);
    expect(parseReadWithSha(read.stdout)).toEqual({ sha: ABSENT, content: null });
    expect(existsSync(join(p.dir, '.toss'))).toBe(false);
  });

  it('creates, reads back, updates, and refuses a stale update', () => {
    const p = paths();
    const v1 = '{"v": 1}\n';
    const create = casWriteArgv({
      file: p.file,
      lockFile: p.lock,
      expectedSha: ABSENT,
      content: v1,
    });
    expect(run(create.argv, create.stdin).status).toBe(0);
    expect(statSync(p.file).mode & 0o777).toBe(0o600);
    expect(statSync(join(p.dir, '.toss')).mode & 0o777).toBe(0o700);

    const read = parseReadWithSha(run(readWithShaArgv(p.file, p.lock)).stdout);
    expect(read).toEqual({ sha: sha256Hex(v1), content: v1 });

    const v2 = '{"v": 2}\n';
    const update = casWriteArgv({
      file: p.file,
      lockFile: p.lock,
      expectedSha: read.sha,
      content: v2,
    });
    expect(run(update.argv, update.stdin).status).toBe(0);
    expect(readFileSync(p.file, 'utf8')).toBe(v2);

    // A second client that read v1 loses: it must re-read and retry.
    const stale = casWriteArgv({
      file: p.file,
      lockFile: p.lock,
      expectedSha: read.sha,
      content: '{}',
    });
    const lost = run(stale.argv, stale.stdin);
    expect(lost.status).toBe(CAS_CONFLICT_EXIT);
    expect(lost.stderr).toContain('changed since it was read');
    expect(readFileSync(p.file, 'utf8')).toBe(v2);

    // Creating over an existing file is a conflict too.
    const again = casWriteArgv({
      file: p.file,
      lockFile: p.lock,
      expectedSha: ABSENT,
      content: '{}',
    });
    expect(run(again.argv, again.stdin).status).toBe(CAS_CONFLICT_EXIT);
  });

  it('writes nothing when stdin arrives cut short', () => {
    const p = paths();
    const write = casWriteArgv({
      file: p.file,
      lockFile: p.lock,
      expectedSha: ABSENT,
      content: '{"long": true}\n',
    });
    const r = run(write.argv, '{"lo');
    expect(r.status).toBe(CAS_INCOMPLETE_EXIT);
    expect(existsSync(p.file)).toBe(false);
    expect(readdirSync(join(p.dir, '.toss'))).toEqual(['state.lock']);
  });

  it('lets exactly one of many concurrent writers with the same base win', async () => {
    const p = paths();
    const base = casWriteArgv({
      file: p.file,
      lockFile: p.lock,
      expectedSha: ABSENT,
      content: 'base',
    });
    run(base.argv, base.stdin);
    const sha = sha256Hex('base');
    const codes = await Promise.all(
      Array.from({ length: 8 }, (_, i) => {
        const w = casWriteArgv({
          file: p.file,
          lockFile: p.lock,
          expectedSha: sha,
          content: `w${i}`,
        });
        return new Promise<number | null>((resolve) => {
          const child = spawn(w.argv[0] as string, w.argv.slice(1), {
            stdio: ['pipe', 'ignore', 'ignore'],
          });
          child.on('close', resolve);
          child.stdin.end(w.stdin);
        });
      }),
    );
    expect(codes.filter((c) => c === 0)).toHaveLength(1);
    expect(codes.filter((c) => c === CAS_CONFLICT_EXIT)).toHaveLength(7);
    expect(readFileSync(p.file, 'utf8')).toMatch(/^w[0-7]$/);
  });

  it('runs a guarded step only while our token holds the lock', () => {
    const p = paths();
    const token = 'ab'.repeat(16);
    const lock = createLock({
      environment: 'production',
      token,
      host: 'h',
      machine: 'c'.repeat(32),
      pid: 1,
      by: 'me',
      now: new Date('2026-11-27T22:00:00Z'),
    });
    const create = casWriteArgv({
      file: p.file,
      lockFile: p.lock,
      expectedSha: ABSENT,
      content: serializeState(setLock(emptyState('shop'), lock)),
    });
    run(create.argv, create.stdin);
    const marker = join(p.dir, 'ran');
    const ok = run(guardedArgv({ stateFile: p.file, lockFile: p.lock, token }, ['touch', marker]));
    expect(ok.status).toBe(0);
    expect(existsSync(marker)).toBe(true);

    const other = 'cd'.repeat(16);
    const refused = run(
      guardedArgv({ stateFile: p.file, lockFile: p.lock, token: other }, ['touch', `${marker}2`]),
    );
    expect(refused.status).toBe(TOKEN_MISMATCH_EXIT);
    expect(refused.stderr).toContain('no longer holds the lock');
    expect(existsSync(`${marker}2`)).toBe(false);

    writeFileSync(p.file, serializeState(emptyState('shop')));
    const released = run(guardedArgv({ stateFile: p.file, lockFile: p.lock, token }, ['true']));
    expect(released.status).toBe(TOKEN_MISMATCH_EXIT);
  });

  it('refuses a token that is not hex', () => {
    expect(() =>
      guardedArgv({ stateFile: '/s', lockFile: '/l', token: '" x' }, ['true']),
    ).toThrow();
  });
});
