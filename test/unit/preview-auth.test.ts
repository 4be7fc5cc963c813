/**
 * previewAuth ends up in a Caddy site file: the schema (before connecting) and the site builder
 * (the last gate) take exactly the same user names and hashes, and refuse the rest with one line
 * naming the field.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { buildSiteFile } from '../../src/server/caddy-site.js';

// Real hashes (Python's crypt and `caddy hash-password`), of costs 04, 12 and 14.
const COST_04 = '$2b$04$RcYfUt.9AjOplQUYo/1YMOPmvm5hmwk0upFmGPnM8Gz5ZOHjJ3xWu';
const COST_12 = '$2b$12$xdGxqzwK6m86VhCYHu0XF.3wZkvJZ0BiL.xod3O7tBaNRQ/ayx6Wi';
const COST_14 = '$2a$14$IjHTgaFGL865/vAW5IC6H.APHrPDltaJAIQ53tFi33ws0AOJuSemG';
const withCost = (hash: string, cost: string) => hash.replace(/^(\$2.\$)\d\d/, `$1${cost}`);
const pad = (text: string, length: number) => text + 'x'.repeat(length - text.length);

const USER_EXPECTED =
  'expected a user name of letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64 long, other than "import"';
const HASH_EXPECTED =
  'expected a bcrypt hash with a cost from 04 to 14, like "$2a$14$…" from `caddy hash-password` (not a password)';

function schemaProblems(previewAuth: unknown): string[] {
  try {
    parseConfig({
      app: 'shop',
      server: 'root@203.0.113.10',
      startCommand: 'node server.js',
      deployScript: ['npm ci'],
      previewAuth,
    });
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
}

function builderError(basicAuth: { user: string; passwordHash: string }): string | undefined {
  try {
    buildSiteFile({ hostName: 'pr-1.preview.shop.test', port: 3000, tls: 'auto', basicAuth });
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('previewAuth.user', () => {
  it.each([
    ['a plain word', 'team'],
    ['one character', 'a'],
    ['digits first', '42ops'],
    ['dots, dashes and underscores inside', 'Team.Ops_1-x'],
    ['64 characters', pad('a', 64)],
    ['a word that only starts like a keyword', 'imports'],
    ['a keyword inside a word', 'my-import'],
  ])('takes %s (%s)', (_label, user) => {
    expect(schemaProblems({ user, passwordHash: COST_14 })).toEqual([]);
    expect(builderError({ user, passwordHash: COST_14 })).toBeUndefined();
    expect(
      buildSiteFile({
        hostName: 'pr-1.preview.shop.test',
        port: 3000,
        tls: 'auto',
        basicAuth: { user, passwordHash: COST_14 },
      }),
    ).toContain(`\tbasicauth {\n\t\t${user} ${COST_14}\n\t}\n`);
  });

  it.each([
    ['the import keyword', 'import'],
    ['the keyword in capitals', 'IMPORT'],
    ['the keyword capitalised', 'Import'],
    ['empty', ''],
    ['a leading dot', '.hidden'],
    ['a leading dash', '-x'],
    ['a space', 'a b'],
    ['a colon', 'a:b'],
    ['an opening brace', 'a{b'],
    ['a closing brace', 'a}'],
    ['an environment placeholder', '{$HOME}'],
    ['a request placeholder', '{http.request.host}'],
    ['a double quote', 'a"b'],
    ['a single quote', "a'b"],
    ['a backquote', 'a`b'],
    ['a comment', 'a#b'],
    ['a dollar', 'a$b'],
    ['a backslash', 'a\\b'],
    ['a snippet name', '(snip)'],
    ['a slash', 'a/b'],
    ['a glob', 'a*'],
    ['a newline and a directive', 'team\nimport /dev/shm/x'],
    ['a tab', 'a\tb'],
    ['a non-ASCII letter', 'é'],
    ['65 characters', pad('a', 65)],
  ])('refuses %s (%j) in the schema and the builder, naming the field', (_label, user) => {
    const problems = schemaProblems({ user, passwordHash: COST_14 });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.startsWith(`toss.json: previewAuth.user: ${USER_EXPECTED}, got `)).toBe(
      true,
    );
    expect(builderError({ user, passwordHash: COST_14 })).toMatch(/^refusing previewAuth\.user /);
  });
});

describe('previewAuth.passwordHash', () => {
  it.each([
    ['cost 04', COST_04],
    ['cost 12', COST_12],
    ['cost 14 (what caddy hash-password makes)', COST_14],
    ['the $2y$ prefix', COST_14.replace('$2a$', '$2y$')],
    ['the $2b$ prefix', COST_14.replace('$2a$', '$2b$')],
  ])('takes %s', (_label, passwordHash) => {
    expect(schemaProblems({ user: 'team', passwordHash })).toEqual([]);
    expect(builderError({ user: 'team', passwordHash })).toBeUndefined();
  });

  it.each([
    ['cost 31 (a CPU sink)', withCost(COST_14, '31')],
    ['cost 15', withCost(COST_14, '15')],
    ['cost 20', withCost(COST_14, '20')],
    ['cost 03', withCost(COST_14, '03')],
    ['a one-digit cost', COST_14.replace('$14$', '$4$')],
    ['a path padded to bcrypt length', `$2a$10$${pad('/../../../../dev/shm/toss/', 53)}`],
    ['a path with a slash-only salt', `$2a$10$${'/'.repeat(53)}`],
    ['letters that no encoder writes', `$2a$14$${'a'.repeat(53)}`],
    ['a plain password', 'hunter2'],
    ['the base64 form of older Caddy versions', Buffer.from(COST_14).toString('base64')],
    ['an unknown prefix', COST_14.replace('$2a$', '$2x$')],
    ['one character short', COST_14.slice(0, -1)],
    ['one character long', `${COST_14}e`],
    ['a trailing newline and brace', `${COST_14}\n}`],
    ['a placeholder', `$2a$14${'{$HOME}'}`],
  ])('refuses %s in the schema and the builder, naming the field', (_label, passwordHash) => {
    expect(schemaProblems({ user: 'team', passwordHash })).toEqual([
      `toss.json: previewAuth.passwordHash: ${HASH_EXPECTED}, got (not shown)`,
    ]);
    expect(builderError({ user: 'team', passwordHash })).toMatch(
      /^refusing previewAuth\.passwordHash: /,
    );
  });
});

describe('the schema and the builder agree', () => {
  it('on every user of a small alphabet sweep (two characters from a mixed set)', () => {
    const chars = ['a', 'Z', '0', '.', '_', '-', ' ', ':', '{', '}', '$', '#', '"', '/', '\n'];
    for (const x of chars) {
      for (const y of chars) {
        const user = x + y;
        const schemaTakes = schemaProblems({ user, passwordHash: COST_14 }).length === 0;
        const builderTakes = builderError({ user, passwordHash: COST_14 }) === undefined;
        expect(builderTakes, JSON.stringify(user)).toBe(schemaTakes);
      }
    }
  });
});
