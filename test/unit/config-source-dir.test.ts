import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveSourceDir } from '../../src/config/source-dir.js';
import { ConfigError } from '../../src/errors.js';

// A checkout with a monorepo layout and the symlinks a pull request could commit, beside a
// stand-in for RUNNER_TEMP holding a key.
let base: string;
let checkout: string;
let runnerTemp: string;

beforeAll(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'toss-source-dir-')));
  checkout = join(base, 'checkout');
  runnerTemp = join(base, 'runner-temp');
  mkdirSync(join(checkout, 'apps', 'web'), { recursive: true });
  mkdirSync(runnerTemp);
  writeFileSync(join(runnerTemp, 'id'), 'PRIVATE KEY');
  writeFileSync(join(checkout, 'README'), 'x');
  symlinkSync(runnerTemp, join(checkout, 'temp'));
  symlinkSync('/', join(checkout, 'slash'));
  symlinkSync('..', join(checkout, 'up'));
  symlinkSync('apps/web', join(checkout, 'web'));
  symlinkSync(join(base, 'checkout-elsewhere'), join(checkout, 'dangling'));
  // A sibling whose name starts like the checkout's: not inside it.
  mkdirSync(join(base, 'checkout-evil'));
  symlinkSync(join(base, 'checkout-evil'), join(checkout, 'sibling'));
  symlinkSync(join(checkout, 'temp'), join(checkout, 'apps', 'hop'));
  // The checkout itself reached through a symlink (a runner's workspace can be).
  symlinkSync(checkout, join(base, 'workspace'));
});

describe('resolveSourceDir', () => {
  it.each([
    ['.', '.'],
    ['./apps/web', 'apps/web'],
    ['apps/web', 'apps/web'],
    ['web', 'apps/web'],
  ])('root %j is the real directory %s of the checkout', (root, real) => {
    expect(resolveSourceDir(checkout, root, 'toss.json')).toBe(join(checkout, real));
    expect(resolveSourceDir(join(base, 'workspace'), root, 'toss.json')).toBe(join(checkout, real));
  });

  it.each([
    ['temp', 'a symlink to RUNNER_TEMP', /leads out of the checkout/],
    ['slash', 'a symlink to /', /leads out of the checkout/],
    ['up', 'a symlink to the parent', /leads out of the checkout/],
    ['sibling', 'a symlink to a directory named like the checkout', /leads out of the checkout/],
    ['apps/hop', 'a symlink to a symlink out', /leads out of the checkout/],
    ['temp/id', 'a file out of the checkout', /leads out of the checkout/],
    ['dangling', 'a dangling symlink', /is not a directory of the checkout/],
    ['missing', 'a missing directory', /is not a directory of the checkout/],
    ['README', 'a file', /is not a directory of the checkout/],
  ])('root %j (%s) is refused naming the field', (root, _what, why) => {
    let error: unknown;
    try {
      resolveSourceDir(checkout, root, '/repo/toss.json');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^/repo/toss\\.json: root: ${JSON.stringify(root)} `));
    expect(problems[0]).toMatch(why);
  });
});
