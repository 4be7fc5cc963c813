import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TossConfig } from '../../src/config/schema.js';
import { excludeMatcher, scanBuiltTree } from '../../src/pipeline/native-step.js';

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

describe('scanBuiltTree', () => {
  const config = { build: ['true'], exclude: [] } as unknown as TossConfig;

  it('leaves out what the top-level .tossignore leaves out of the upload', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'toss-native-'));
    mkdirSync(join(dir, 'musl'));
    mkdirSync(join(dir, 'bin'));
    copyFileSync('/bin/true', join(dir, 'musl', 'true'));
    copyFileSync('/bin/true', join(dir, 'bin', 'true'));
    const found = async () => (await scanBuiltTree(config, dir))!.map((f) => f.path).sort();
    expect(await found()).toEqual(['bin/true', 'musl/true']);
    writeFileSync(join(dir, '.tossignore'), '# not shipped\n\n/musl/\n+ bin/\n');
    expect(await found()).toEqual(['bin/true']);
  });
});
