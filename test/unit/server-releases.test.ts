import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envPaths } from '../../src/server/paths.js';
import {
  isReleaseId,
  listReleasesArgv,
  newReleaseId,
  parseReleaseLinks,
  parseReleaseList,
  releasesToPrune,
} from '../../src/server/releases.js';

const r = (n: number) => `202611${String(n).padStart(2, '0')}T100000Z-000${n % 10}`;

describe('newReleaseId', () => {
  it('is the UTC time to the second and 4 hex', () => {
    expect(newReleaseId(new Date('2026-11-27T22:30:15.789Z'), '3fa9')).toBe(
      '20261127T223015Z-3fa9',
    );
    expect(newReleaseId(new Date('2026-01-02T03:04:05Z'))).toMatch(
      /^20260102T030405Z-[0-9a-f]{4}$/,
    );
  });

  it('sorts by time', () => {
    const a = newReleaseId(new Date('2026-11-27T09:59:59Z'), 'ffff');
    const b = newReleaseId(new Date('2026-11-27T10:00:00Z'), '0000');
    expect([b, a].sort()).toEqual([a, b]);
    expect(isReleaseId(a)).toBe(true);
  });

  it('refuses a bad suffix', () => {
    expect(() => newReleaseId(new Date(), 'xyz/')).toThrow();
  });
});

describe('releasesToPrune', () => {
  it.each([
    ['keeps the newest three', [1, 2, 3, 4, 5], { keep: 3, live: 5, previous: 4 }, [1, 2]],
    ['nothing when under the limit', [1, 2], { keep: 3, live: 2, previous: 1 }, []],
    [
      'never the live one after a rollback',
      [1, 2, 3, 4],
      { keep: 2, live: 1, previous: 4 },
      [2, 3],
    ],
    ['previews keep two', [1, 2, 3], { keep: 2, live: 3, previous: 2 }, [1]],
    ['live and previous even past keep', [1, 2, 3], { keep: 1, live: 1, previous: 2 }, [3]],
    ['without a previous one', [1, 2, 3], { keep: 2, live: 3 }, [1]],
    ['unsorted and repeated input', [3, 1, 2, 1], { keep: 2, live: 3, previous: 2 }, [1]],
  ] as Array<[string, number[], { keep: number; live?: number; previous?: number }, number[]]>)(
    '%s',
    (_name, ids, { keep, live, previous }, pruned) => {
      expect(
        releasesToPrune(ids.map(r), {
          keep,
          live: live === undefined ? undefined : r(live),
          previous: previous === undefined ? undefined : r(previous),
        }),
      ).toEqual(pruned.map(r));
    },
  );

  it('ignores names that are not release ids', () => {
    expect(releasesToPrune(['lost+found', r(1), r(2)], { keep: 1, live: r(2) })).toEqual([r(1)]);
  });

  it('refuses keep < 1', () => {
    expect(() => releasesToPrune([], { keep: 0 })).toThrow();
  });
});

describe('listing releases', () => {
  it('lists the directory (or nothing) and what current and the slots point at', () => {
    const argv = listReleasesArgv(envPaths('shop', 'pr-1'));
    expect(argv.slice(3)).toEqual([
      'sh',
      '/srv/shop/pr-1/releases',
      '/srv/shop/pr-1/current',
      '/srv/shop/pr-1/slots',
    ]);
    const env = mkdtempSync(join(tmpdir(), 'toss-releases-'));
    const dir = join(env, 'releases');
    mkdirSync(dir);
    for (const id of [r(3), r(2), r(1)]) mkdirSync(join(dir, id));
    mkdirSync(join(dir, 'junk'));
    writeFileSync(join(dir, 'file'), '');
    mkdirSync(join(env, 'slots'));
    symlinkSync(`releases/${r(2)}`, join(env, 'current'));
    symlinkSync(`../releases/${r(2)}`, join(env, 'slots', '3000'));
    symlinkSync(`../releases/${r(3)}`, join(env, 'slots', '3001'));
    const run = (path: string) =>
      spawnSync(
        'sh',
        ['-c', argv[2] as string, 'sh', path, join(env, 'current'), join(env, 'slots')],
        { encoding: 'utf8' },
      );
    const listed = run(dir);
    expect(listed.status).toBe(0);
    expect(parseReleaseList(listed.stdout)).toEqual([r(1), r(2), r(3)]);
    expect(parseReleaseLinks(listed.stdout)).toEqual(
      new Map([
        ['current', r(2)],
        ['3000', r(2)],
        ['3001', r(3)],
      ]),
    );
    const missing = run(join(env, 'missing'));
    expect(missing.status).toBe(0);
    expect(parseReleaseList(missing.stdout)).toEqual([]);
  });
});
