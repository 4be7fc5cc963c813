import { describe, expect, it } from 'vitest';
import { excludeMatcher } from '../../src/pipeline/native-step.js';

describe('excludeMatcher: upload excludes as the native-code scan reads them', () => {
  it.each([
    // pattern, path, isDirectory, excluded
    ['.git', '.git', true, true],
    ['.git', 'sub/.git', true, true],
    ['.env*', '.env.local', false, true],
    ['.env*', 'a/.envrc', false, true],
    ['.env*', 'my.env', false, false],
    ['*.log', 'logs/app.log', false, true],
    ['/tmp/', 'tmp', true, true],
    ['/tmp/', 'tmp', false, false],
    ['/tmp/', 'a/tmp', true, false],
    ['prebuilds/linux-arm64', 'node_modules/x/prebuilds/linux-arm64', true, true],
    ['prebuilds/linux-arm64', 'node_modules/x/prebuilds/linux-arm64x', true, false],
    ['/vendor/**/test', 'vendor/a/b/test', true, true],
    ['file?.bin', 'file1.bin', false, true],
    ['file?.bin', 'file12.bin', false, false],
    ['a+b(c)', 'a+b(c)', false, true],
    ['a+b(c)', 'aab(c)', false, false],
  ] as const)('%s on %s (dir: %s) → %s', (pattern, path, isDirectory, excluded) => {
    expect(excludeMatcher(pattern)(path, isDirectory)).toBe(excluded);
  });
});
