import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TossError } from '../../src/errors.js';
import { besideArgv, shellJoin, shellQuote } from '../../src/remote/quote.js';

const scratch = mkdtempSync(join(tmpdir(), 'toss-quote-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const pwned = join(scratch, 'pwned');
const HOSTILE = `$(touch ${pwned}); 'a" \`id\``;

// Values that must arrive byte for byte.
const VALUES = [
  HOSTILE,
  '$(touch /tmp/pwned); \'a" `id`',
  '',
  ' ',
  'plain',
  '-rf',
  '--help',
  '-',
  "it's",
  "''",
  "'",
  '"',
  '\\',
  '\\\\n',
  'a\nb',
  '\n',
  'tab\there',
  'line1\r\nline2',
  '$HOME',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal shell expansion is the point
  '${HOME}',
  '`id`',
  '$((1+1))',
  '*',
  '?',
  '[a-z]',
  '~',
  '~root',
  '=cmd',
  'a=b',
  '{a,b}',
  '!',
  '!!',
  '#comment',
  'a;b',
  'a&b',
  'a|b',
  'a>b',
  '<b',
  '(sub)',
  '%1',
  'héllo wörld',
  '日本語',
  '🚀 emoji',
  'zero\u200bwidth',
  '\u00a0nbsp',
  '\x01\x7f',
  'x'.repeat(10_000),
];

/** What `sh -c` hands printf: the value exactly as the remote shell will. */
function viaShell(shell: string, commandLine: string): string {
  const result = spawnSync(shell, ['-c', commandLine], { encoding: 'utf8' });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

const SHELLS = ['sh', 'dash', 'bash'].filter(
  (shell) => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0,
);

describe('shellQuote', () => {
  it.each([
    ['plain', 'plain'],
    ['/srv/my-app/releases/20240101.1', '/srv/my-app/releases/20240101.1'],
    ['toss-app-production@3000.service', 'toss-app-production@3000.service'],
    ['a=b', 'a=b'],
    ['-n', '-n'],
    ['--', '--'],
    ['', "''"],
    ['two words', "'two words'"],
    ["it's", "'it'\\''s'"],
    ["'", "''\\'''"],
    ['$HOME', "'$HOME'"],
    ['=cmd', "'=cmd'"],
    ['~', "'~'"],
    ['a\nb', "'a\nb'"],
    ['héllo', "'héllo'"],
    [HOSTILE.replace(pwned, '/tmp/pwned'), `'$(touch /tmp/pwned); '\\''a" \`id\`'`],
  ])('quotes %j as %s', (value, quoted) => {
    expect(shellQuote(value)).toBe(quoted);
  });

  it('rejects a NUL byte with a TossError', () => {
    expect(() => shellQuote('a\0b')).toThrow(TossError);
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
    expect(() => shellJoin(['echo', '\0'])).toThrow(/NUL/);
  });

  it('rejects non-strings', () => {
    expect(() => shellQuote(42 as unknown as string)).toThrow(TypeError);
  });

  for (const shell of SHELLS) {
    it.each(VALUES.map((value) => [JSON.stringify(value).slice(0, 60), value]))(
      `arrives verbatim through ${shell} -c: %s`,
      (_label, value) => {
        expect(viaShell(shell, `printf %s ${shellQuote(value)}`)).toBe(value);
      },
    );
  }

  it('never runs the hostile value', () => {
    viaShell('sh', `printf %s ${shellQuote(HOSTILE)}`);
    viaShell('sh', shellJoin(['echo', HOSTILE, HOSTILE]));
    expect(existsSync(pwned)).toBe(false);
  });
});

describe('shellJoin', () => {
  it('joins quoted words with single spaces', () => {
    expect(shellJoin(['sudo', '-n', '--', 'printf', '%s\\n', "it's here"])).toBe(
      "sudo -n -- printf '%s\\n' 'it'\\''s here'",
    );
    expect(shellJoin([])).toBe('');
  });

  it('keeps every argument separate, even empty and space-only ones', () => {
    const argv = VALUES.slice(0, 20);
    const out = viaShell('sh', shellJoin(['printf', '[%s]', ...argv]));
    expect(out).toBe(argv.map((value) => `[${value}]`).join(''));
  });

  it('passes arguments to sh -c scripts as positional parameters', () => {
    const line = shellJoin(['sh', '-c', 'printf "%s|" "$@"', 'sh', HOSTILE, '', '-x']);
    expect(viaShell('sh', line)).toBe(`${HOSTILE}||-x|`);
    expect(existsSync(pwned)).toBe(false);
  });
});

describe('besideArgv', () => {
  const run = (argv: string[], input = '') =>
    spawnSync(argv[0] as string, argv.slice(1), { input, encoding: 'utf8' });
  const out = (name: string) => join(scratch, name);
  const write = (name: string, text: string) => [
    'sh',
    '-c',
    'printf "%s" "$2" > "$1"',
    'sh',
    out(name),
    text,
  ];

  it('runs the background beside the chain, both to the end; only the chain reads stdin', () => {
    const r = run(
      besideArgv(
        ['sh', '-c', 'sleep 0.2; cat > "$1"', 'sh', out('bg-stdin')],
        [write('first', HOSTILE), ['sh', '-c', 'cat > "$1"', 'sh', out('chain-stdin')]],
      ),
      'for the chain',
    );
    expect(r.status).toBe(0);
    // The background waited out the chain and was still waited for; it read /dev/null.
    expect(readFileSync(out('bg-stdin'), 'utf8')).toBe('');
    expect(readFileSync(out('chain-stdin'), 'utf8')).toBe('for the chain');
    expect(readFileSync(out('first'), 'utf8')).toBe(HOSTILE);
    expect(existsSync(pwned)).toBe(false);
  });

  it("exits with the chain's failure (after the background ended), else with the background's", () => {
    const failed = run(
      besideArgv(
        ['sh', '-c', 'sleep 0.2; : > "$1"', 'sh', out('bg-done')],
        [['sh', '-c', 'exit 7'], write('never', 'x')],
      ),
    );
    expect(failed.status).toBe(7);
    expect(existsSync(out('bg-done'))).toBe(true);
    expect(existsSync(out('never'))).toBe(false);
    expect(run(besideArgv(['sh', '-c', 'exit 5'], [write('chain-ran', 'y')])).status).toBe(5);
    expect(readFileSync(out('chain-ran'), 'utf8')).toBe('y');
    expect(run(besideArgv(['true'], [])).status).toBe(0);
  });
});
