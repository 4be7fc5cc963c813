import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  applyOverrideArgs,
  mergeEnv,
  parseEnvFile,
  serializeEnvFile,
  tossVariables,
} from '../../src/server/env-file.js';

const entries = (text: string) => Object.fromEntries(parseEnvFile(text));

describe('parseEnvFile', () => {
  it.each([
    ['plain', 'A=1\nB=two words\n', { A: '1', B: 'two words' }],
    [
      '= in the value',
      'URL=postgres://u:p@h/db?sslmode=require&x=1',
      {
        URL: 'postgres://u:p@h/db?sslmode=require&x=1',
      },
    ],
    [
      'comments and blank lines',
      '# top\n\n  # indented\nA=1\n\n\nB=2 # trailing\n',
      {
        A: '1',
        B: '2',
      },
    ],
    ['# without a space before it', 'COLOR=#fff\nHASH=a#b', { COLOR: '#fff', HASH: 'a#b' }],
    ['export prefix', 'export A=1\nexport\tB=2', { A: '1', B: '2' }],
    ['spaces around =', 'A = 1\n  B=  2  ', { A: '1', B: '2' }],
    ['empty value', 'A=\nB=""\nC=\'\'', { A: '', B: '', C: '' }],
    ['single quotes are verbatim', 'A=\'$HOME \\n "x"\'', { A: '$HOME \\n "x"' }],
    ['double quotes with escapes', 'A="a\\"b\\\\c\\$d\\`e\\nf\\tg"', { A: 'a"b\\c$d`e\nf\tg' }],
    ['# inside quotes', 'A="x # y" # comment', { A: 'x # y' }],
    [
      'multi-line double quotes',
      'KEY="-----BEGIN-----\nabc  \n-----END-----"\nB=1',
      {
        KEY: '-----BEGIN-----\nabc  \n-----END-----',
        B: '1',
      },
    ],
    ['multi-line single quotes', "A='1\n2'", { A: '1\n2' }],
    ['CRLF line ends', 'A=1\r\nB="2"\r\n', { A: '1', B: '2' }],
    ['no $ expansion', 'A=1\nB=$A', { B: '$A', A: '1' }],
    ['quotes inside an unquoted value', 'A=it\'s "fine"', { A: 'it\'s "fine"' }],
    ['unicode', 'A=ünï ✓', { A: 'ünï ✓' }],
  ])('%s', (_name, text, expected) => {
    expect(entries(text)).toEqual(expected);
  });

  it('keeps the order of the file', () => {
    expect([...parseEnvFile('B=1\nA=2\nC=3').keys()]).toEqual(['B', 'A', 'C']);
  });

  it('names every bad line at once', () => {
    const text = [
      'GOOD=1', // 1
      'no equals sign', // 2
      '1BAD=x', // 3
      'A-B=x', // 4
      'GOOD=2', // 5
      'Q="abc" tail', // 6
      'E="\\q"', // 7
      '', // 8
      'OPEN="never closed', // 9
      'STILL=inside', // 10
    ].join('\n');
    let error: unknown;
    try {
      parseEnvFile(text, 'production.env');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'production.env: line 2: expected KEY=VALUE',
      'production.env: line 3: invalid name before =: use letters, digits and _, not starting with a digit',
      'production.env: line 4: invalid name before =: use letters, digits and _, not starting with a digit',
      'production.env: line 5: GOOD is already set on line 1',
      'production.env: line 6: unexpected text after the closing quote (a comment starts with #)',
      'production.env: line 7: unknown escape after a backslash (known: \\n \\r \\t \\" \\\\ \\$ \\`; write \\\\ for a backslash)',
      'production.env: line 9: the double quote is never closed',
    ]);
  });

  it('counts lines inside multi-line values', () => {
    expect(() => parseEnvFile("A='x\ny'\nbad line")).toThrow(
      'env file: line 3: expected KEY=VALUE',
    );
  });
});

describe('serializeEnvFile', () => {
  it('writes double-quoted values systemd reads back as they are', () => {
    expect(
      serializeEnvFile([
        ['A', 'plain'],
        ['B', 'say "hi" \\ $HOME `cmd`'],
        ['C', 'line1\nline2'],
        ['D', ''],
        ['E', "it's # not a comment"],
      ]),
    ).toBe(
      [
        'A="plain"',
        'B="say \\"hi\\" \\\\ \\$HOME \\`cmd\\`"',
        'C="line1',
        'line2"',
        'D=""',
        'E="it\'s # not a comment"',
        '',
      ].join('\n'),
    );
  });

  it.each([
    ['plain', 'x'],
    ['quotes and escapes', `a"b'c\\d$e\`f`],
    ['= and #', 'a=b#c # d'],
    ['newlines and trailing spaces', 'a\n  b  \n\nc  '],
    ['leading and trailing spaces', '  padded  '],
    ['carriage return', 'a\r\nb\r'],
    ['a backslash at the end', 'ends with \\'],
    ['escape lookalikes', '\\n \\t \\"'],
    ['empty', ''],
  ])('round-trips %s', (_name, value) => {
    const map = new Map([
      ['KEY', value],
      ['OTHER', 'after'],
    ]);
    expect(parseEnvFile(serializeEnvFile(map))).toEqual(map);
  });

  it('refuses bad names and NUL', () => {
    expect(() => serializeEnvFile([['A B', 'x']])).toThrow(ConfigError);
    expect(() => serializeEnvFile([['A', 'x\0y']])).toThrow(/NUL/);
  });
});

describe('mergeEnv', () => {
  it('base, then overrides, then toss variables win', () => {
    const merged = mergeEnv(
      new Map([
        ['A', 'base'],
        ['B', 'base'],
        ['PORT', '1'],
      ]),
      new Map([
        ['B', 'override'],
        ['C', 'override'],
      ]),
      new Map([['PORT', '3000']]),
    );
    expect(Object.fromEntries(merged)).toEqual({
      A: 'base',
      B: 'override',
      PORT: '3000',
      C: 'override',
    });
  });
});

describe('applyOverrideArgs', () => {
  const existing = new Map([
    ['A', '1'],
    ['B', '2'],
  ]);

  it('sets, replaces and removes (KEY=)', () => {
    const next = applyOverrideArgs(existing, ['A=10', 'B=', 'C=x=y', 'D= spaced ']);
    expect(Object.fromEntries(next)).toEqual({ A: '10', C: 'x=y', D: ' spaced ' });
    expect(Object.fromEntries(existing)).toEqual({ A: '1', B: '2' });
  });

  it('refuses malformed arguments, naming each', () => {
    expect(() => applyOverrideArgs(existing, ['NOEQUALS', '9X=1', 'OK=1'])).toThrow(
      '-s argument 1 of 3: expected KEY=VALUE (KEY= removes it), KEY of letters, digits and _\n-s argument 2 of 3: expected KEY=VALUE (KEY= removes it), KEY of letters, digits and _',
    );
  });
});

describe('tossVariables', () => {
  it('gives every release its TOSS_* variables, PORT and HOST', () => {
    expect(
      Object.fromEntries(
        tossVariables({
          app: 'shop',
          environment: 'pr-1',
          releaseId: '20261127T223015Z-3fa9',
          port: 3001,
          url: 'https://pr-1.preview.shop.test/',
        }),
      ),
    ).toEqual({
      TOSS_ENV: 'pr-1',
      TOSS_APP: 'shop',
      TOSS_RELEASE: '20261127T223015Z-3fa9',
      TOSS_PORT: '3001',
      TOSS_RELEASE_DIR: '/srv/shop/pr-1/releases/20261127T223015Z-3fa9',
      TOSS_ENV_DIR: '/srv/shop/pr-1',
      TOSS_PROD_DIR: '/srv/shop/production',
      TOSS_CACHE_DIR: '/srv/shop/pr-1/cache',
      TOSS_URL: 'https://pr-1.preview.shop.test/',
      PORT: '3001',
      HOST: '127.0.0.1',
    });
  });
});
