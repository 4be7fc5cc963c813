import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPath, formatValue } from '../../src/config/errors-format.js';
import { loadConfig, parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const valid = {
  app: 'myapp',
  server: 'root@203.0.113.10',
  startCommand: 'node server.js',
  deployScript: ['npm ci'],
};

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'toss-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads and validates a file', async () => {
    const path = join(dir, 'toss.json');
    await writeFile(path, JSON.stringify(valid, null, 2));
    await expect(loadConfig(path)).resolves.toMatchObject({ ...valid, keepReleases: 3 });
  });

  it('accepts a byte-order mark', async () => {
    const path = join(dir, 'bom.json');
    await writeFile(path, `\uFEFF${JSON.stringify(valid)}`);
    await expect(loadConfig(path)).resolves.toMatchObject(valid);
  });

  it('says `toss init` creates a missing file', async () => {
    const path = join(dir, 'missing.json');
    await expect(loadConfig(path)).rejects.toThrow(
      `${path}: not found; \`toss init\` creates one (or pass --config PATH)`,
    );
  });

  it('refuses a directory', async () => {
    const path = join(dir, 'adir');
    await mkdir(path);
    await expect(loadConfig(path)).rejects.toThrow(`${path}: is a directory, expected a JSON file`);
  });

  it('prefixes problems with the path as given', async () => {
    const path = join(dir, 'bad.json');
    await writeFile(path, JSON.stringify({ ...valid, keepReleases: 'three' }));
    await expect(loadConfig(path)).rejects.toThrow(
      `${path}: keepReleases: expected a whole number ≥ 2, got "three"`,
    );
  });
});

describe('parseConfigText: invalid JSON gives line and column', () => {
  it.each<[string, string]>([
    ['', 'toss.json:1:1: invalid JSON: unexpected end of file, expected a value'],
    [
      '{',
      'toss.json:1:2: invalid JSON: unexpected end of file, expected a property name in double quotes',
    ],
    ['{"app": "x",}', 'toss.json:1:13: invalid JSON: trailing comma before "}"'],
    ['{\n  "app": "x"\n  "server": "y"\n}', 'toss.json:3:3: invalid JSON: expected "," or "}"'],
    ["{'app': 'x'}", 'toss.json:1:2: invalid JSON: strings must be in double quotes'],
    ['{\n  // note\n}', 'toss.json:2:3: invalid JSON: comments are not allowed in JSON'],
    [
      '{"app": "a\tb"}',
      'toss.json:1:11: invalid JSON: control character in a string (write \\n, \\t or \\u00XX)',
    ],
    ['{"app": "\\q"}', 'toss.json:1:10: invalid JSON: invalid escape sequence in a string'],
    ['{"app": "x"', 'toss.json:1:12: invalid JSON: unexpected end of file, expected "," or "}"'],
    ['{"keepReleases": 03}', 'toss.json:1:19: invalid JSON: expected "," or "}"'],
    ['{"tls": tru}', 'toss.json:1:9: invalid JSON: expected a value'],
    ['{} {}', 'toss.json:1:4: invalid JSON: unexpected text after the JSON value'],
    ['{"é😀": x}', 'toss.json:1:8: invalid JSON: expected a value'],
    ['['.repeat(100_000), 'toss.json:1:258: invalid JSON: nested too deeply'],
  ])('%j', (text, line) => {
    expect(problemsOf(() => parseConfigText(text))).toEqual([line]);
  });

  it('uses the source name', () => {
    expect(problemsOf(() => parseConfigText('{', 'configs/toss.json'))[0]).toMatch(
      /^configs\/toss\.json:1:2: /,
    );
  });
});

describe('formatValue and formatPath', () => {
  it.each<[unknown, string]>([
    ['three', '"three"'],
    [3, '3'],
    [null, 'null'],
    [[1, 'a'], '[1,"a"]'],
    [{ a: 1 }, '{"a":1}'],
    ['a\u0000b\u001b[0m', '"a\\u0000b\\u001b[0m"'],
    ['\u2028\u202e\u200b\u007f\u0085', '"\\u2028\\u202e\\u200b\\u007f\\u0085"'],
    ['x'.repeat(100), `"${'x'.repeat(38)}…`],
    [`${'x'.repeat(37)}\u0000`, `"${'x'.repeat(37)}\\u0000"`],
    [`${'x'.repeat(38)}\u0000\u0000`, `"${'x'.repeat(38)}…`],
    [undefined, 'undefined'],
    [10n, 'bigint'],
  ])('formatValue case %#', (value, shown) => {
    expect(formatValue(value)).toBe(shown);
  });

  it.each<[PropertyKey[], string]>([
    [['keepReleases'], 'keepReleases'],
    [['healthCheck', 'path'], 'healthCheck.path'],
    [['deployScript', 2], 'deployScript[2]'],
    [['branches', 'feature/*'], 'branches["feature/*"]'],
    [['$schema'], '$schema'],
    [['branches', 'a\nb'], 'branches["a\\nb"]'],
  ])('formatPath(%j)', (path, shown) => {
    expect(formatPath(path)).toBe(shown);
  });
});
