import { describe, expect, it } from 'vitest';
import {
  branchToPreviewName,
  ENV_NAME_PATTERN,
  isEnvName,
  isPrEnvName,
  isProduction,
  prNumberEnv,
  prNumberOf,
  validateEnvName,
} from '../../src/config/env-name.js';
import { ConfigError } from '../../src/errors.js';

const RULE =
  'lowercase letters, digits and single dashes, starting with a letter, at most 63 characters';

describe('validateEnvName', () => {
  it.each(['production', 'staging', 'pr-42', 'a', 'qa2', 'a-b-c', 'x'.repeat(63)])(
    'accepts %j',
    (name) => {
      expect(validateEnvName(name, 'environment')).toBe(name);
    },
  );

  it.each<[string, string]>([
    ['', '""'],
    ['Production', '"Production"'],
    ['pr_42', '"pr_42"'],
    ['42', '"42"'],
    ['-a', '"-a"'],
    ['a-', '"a-"'],
    ['a--b', '"a--b"'],
    ['feature/x', '"feature/x"'],
    ['a b', '"a b"'],
    ['x'.repeat(64), `"${'x'.repeat(38)}…`],
    ['$(rm -rf /)', '"$(rm -rf /)"'],
    ['a\nb', '"a\\nb"'],
  ])('rejects %j without rewriting it', (name, shown) => {
    let caught: unknown;
    try {
      validateEnvName(name, 'environment');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems).toEqual([
      `environment: expected an environment name (${RULE}), got ${shown}`,
    ]);
  });
});

describe('production and pull request names', () => {
  it('knows production', () => {
    expect(isProduction('production')).toBe(true);
    expect(isProduction('staging')).toBe(false);
    expect(isProduction('Production')).toBe(false);
  });

  it('names pull request environments', () => {
    expect(prNumberEnv(42)).toBe('pr-42');
    expect(isPrEnvName('pr-42')).toBe(true);
    expect(isPrEnvName('pr-007')).toBe(true);
    expect(isPrEnvName('pr-42a')).toBe(false);
    expect(isPrEnvName('pr-')).toBe(false);
    expect(isPrEnvName('PR-42')).toBe(false);
    expect(prNumberOf('pr-42')).toBe(42);
    expect(prNumberOf('staging')).toBeUndefined();
  });

  it.each([0, -1, 1.5, Number.NaN, 2 ** 60])('refuses pull request number %j', (n) => {
    expect(() => prNumberEnv(n)).toThrow(ConfigError);
  });
});

describe('branchToPreviewName', () => {
  const hashed = /-[0-9a-f]{8}$/;

  it.each(['main', 'develop', 'feature-x', 'fix-123', 'a'])('keeps %j as it is', (branch) => {
    expect(branchToPreviewName(branch)).toBe(branch);
  });

  it.each<[string, string]>([
    ['Feature/X', 'feature-x'],
    ['feature/x', 'feature-x'],
    ['feature_x', 'feature-x'],
    ['feature--x', 'feature-x'],
    ['-feature-', 'feature'],
    ['123-fix', 'b-123-fix'],
    ['pr-42', 'pr-42'],
    ['PR-42', 'pr-42'],
    ['production', 'production'],
    ['Production', 'production'],
    ['deps-1a2b3c4d', 'deps-1a2b3c4d'],
    ['日本語', 'b'],
    ['', 'b'],
  ])('slugs %j to %j plus a hash', (branch, base) => {
    const name = branchToPreviewName(branch);
    expect(name).toMatch(hashed);
    expect(name.slice(0, -9)).toBe(base);
  });

  const hostile = [
    '$(rm -rf /)',
    '`reboot`',
    'it\'s "quoted"',
    'line\nbreak',
    'nul\u0000byte',
    'tab\there',
    'ünïcödé-brånch',
    'emoji-🚀-launch',
    '\u202eevil',
    'x'.repeat(1000),
    `${'a'.repeat(62)}-b`,
    'a'.repeat(63),
    'a'.repeat(64),
    '../../etc/passwd',
    '--force',
    'pr-42',
    'PR-42',
    'pr-0042',
    'pr',
    'PR',
    'production',
    'feature/x',
    'feature-x',
    'Feature/X',
    'feature/X',
    'FEATURE-X',
    'release/1.2.3',
    'release-1-2-3',
    '1.2.3',
    '.',
    '-',
    ' ',
  ];

  it.each(hostile)('gives %j a valid, unreserved name', (branch) => {
    const name = branchToPreviewName(branch);
    expect(name).toMatch(ENV_NAME_PATTERN);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(isEnvName(name)).toBe(true);
    expect(isPrEnvName(name)).toBe(false);
    expect(isProduction(name)).toBe(false);
  });

  it('gives distinct branches distinct names', () => {
    const names = new Map<string, string>();
    for (const branch of hostile) {
      const name = branchToPreviewName(branch);
      expect(names.get(name), `${branch} vs ${names.get(name)}`).toBeUndefined();
      names.set(name, branch);
    }
    expect(branchToPreviewName('feature/x')).not.toBe(branchToPreviewName('feature-x'));
    expect(branchToPreviewName('Feature/X')).not.toBe(branchToPreviewName('feature-x'));
  });

  it('is deterministic: the hash is sha256 of the branch', () => {
    expect(branchToPreviewName('feature/x')).toBe('feature-x-217d2bf5');
    expect(branchToPreviewName('Feature/X')).toBe('feature-x-02cc1910');
  });

  it('cuts long names to 63 characters, hash included', () => {
    const name = branchToPreviewName('x'.repeat(1000));
    expect(name).toHaveLength(63);
    expect(name.startsWith('x'.repeat(54))).toBe(true);
    expect(branchToPreviewName('a'.repeat(63))).toBe('a'.repeat(63));
    expect(branchToPreviewName('a'.repeat(64))).toMatch(/^a{54}-[0-9a-f]{8}$/);
  });

  it('never yields pr-<n>, even when the hash is all digits', () => {
    // sha256("PR__") starts with 39597814: "pr-39597814" would be pull request 39597814's.
    expect(branchToPreviewName('PR__')).toBe('b-pr-39597814');
  });
});
