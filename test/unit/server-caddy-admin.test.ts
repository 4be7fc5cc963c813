import { describe, expect, it } from 'vitest';
import {
  CADDY_ADMIN_ADDRESS,
  caddyAdminDropIn,
  caddyfileTokens,
  ensureAdminSocket,
  globalAdminOption,
} from '../../src/server/caddy-admin.js';

const ADMIN = `\t# toss: Caddy's admin endpoint, reachable only by root and the caddy user.\n\tadmin ${CADDY_ADMIN_ADDRESS}\n`;
const IMPORT = 'import /etc/caddy/toss/*.caddy\n';

describe('caddyfileTokens', () => {
  it('splits on whitespace, keeps quoted text whole, skips comments, marks line starts', () => {
    const tokens = caddyfileTokens('{\n\temail "a b"  # note\n}\n`x\ny` {$ADMIN}#not-a-comment\n');
    expect(tokens.map((t) => [t.text, t.line, t.quoted, t.first])).toEqual([
      ['{', 1, false, true],
      ['email', 2, false, true],
      ['a b', 2, true, false],
      ['}', 3, false, true],
      ['x\ny', 4, true, true],
      ['{$ADMIN}#not-a-comment', 5, false, false],
    ]);
  });

  it('reads an escaped quote inside a quoted token', () => {
    expect(caddyfileTokens('respond "a \\" b"').map((t) => t.text)).toEqual(['respond', 'a " b']);
  });
});

describe('globalAdminOption', () => {
  it.each([
    ['no global block', ':80 {\n\tadmin localhost:2019\n}\n', undefined],
    ['a global block without admin', '{\n\temail a@b.c\n}\n', undefined],
    ['admin with an address', '{\n\tadmin localhost:2020\n}\n', ['localhost:2020']],
    ['admin alone', '# c\n\n{\n\tadmin\n}\n', []],
    ['admin off', '{\n\tadmin off\n}\n', ['off']],
    ['admin with a block', '{\n\tadmin :2019 {\n\t\torigins x\n\t}\n}\n', [':2019']],
    ['admin nested deeper (not the option)', '{\n\tservers {\n\t\tadmin x\n\t}\n}\n', undefined],
    ['admin as an argument, not a directive', '{\n\temail admin\n}\n', undefined],
    ['a quoted "admin"', '{\n\t"admin" x\n}\n', undefined],
    ['admin after the block', '{\n}\nadmin x\n', undefined],
    ['a comment that says admin', '{\n\t# admin localhost:2019\n}\n', undefined],
    ['admin from an environment variable', '{\n\tadmin {$ADMIN}\n}\n', ['{$ADMIN}']],
  ])('%s', (_name, caddyfile, expected) => {
    expect(globalAdminOption(caddyfile)).toEqual(expected);
  });
});

describe('ensureAdminSocket', () => {
  it.each([
    ['an empty file', '', `{\n${ADMIN}}\n\n`],
    ["Debian's default", ':80 {\n\tfile_server\n}\n', `{\n${ADMIN}}\n\n:80 {\n\tfile_server\n}\n`],
    [
      'a global block',
      '# mine\n{\n\temail a@b.c\n}\n\nexample.com {\n}\n',
      `# mine\n{\n${ADMIN}\temail a@b.c\n}\n\nexample.com {\n}\n`,
    ],
    [
      'a global block with CRLF',
      '{\r\n\tdebug\r\n}\r\n',
      `{\r\n${ADMIN.replaceAll('\n', '\r\n')}\tdebug\r\n}\r\n`,
    ],
    ['an import line already there', IMPORT, `{\n${ADMIN}}\n\n${IMPORT}`],
  ])('%s', (_name, input, text) => {
    expect(ensureAdminSocket(input)).toEqual({ text, changed: true });
    // Idempotent, and what it wrote is what it then finds.
    expect(ensureAdminSocket(text)).toEqual({ text, changed: false });
    expect(globalAdminOption(text)).toEqual([CADDY_ADMIN_ADDRESS]);
  });

  it.each([
    [
      'a TCP address',
      '{\n\tadmin 0.0.0.0:2019\n}\n',
      /sets Caddy's admin endpoint to 0\.0\.0\.0:2019/,
    ],
    ['the default address', '{\n\tadmin {\n\t\torigins a\n\t}\n}\n', /localhost:2019/],
    ['admin off', '{\n\tadmin off\n}\n', /admin endpoint to off/],
    ['another socket', '{\n\tadmin unix//tmp/caddy.sock\n}\n', /unix\/\/tmp\/caddy\.sock/],
  ])('refuses %s, naming it and the fix', (_name, caddyfile, message) => {
    expect(() => ensureAdminSocket(caddyfile)).toThrow(message);
    try {
      ensureAdminSocket(caddyfile);
    } catch (error) {
      expect((error as { hint?: string }).hint).toMatch(/remove the `admin` line/);
    }
  });
});

describe('caddyAdminDropIn', () => {
  it('makes systemd create /run/caddy for Caddy, mode 0700', () => {
    const lines = caddyAdminDropIn().split('\n');
    expect(lines.filter((l) => !l.startsWith('#'))).toEqual([
      '[Service]',
      'RuntimeDirectory=caddy',
      'RuntimeDirectoryMode=0700',
    ]);
    expect(caddyAdminDropIn().endsWith('\n')).toBe(false);
  });
});
