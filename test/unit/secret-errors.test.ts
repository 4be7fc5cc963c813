/**
 * Errors from parsing secret text name the source, the line and the key, never a piece of a value:
 * they end up in a shared job log, where only the exact registered values are masked.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseDotenv } from '../../src/config/dotenv.js';
import { ConfigError } from '../../src/errors.js';
import {
  applyOverrideArgs,
  envValueProblem,
  parseEnvFile,
  serializeEnvFile,
} from '../../src/server/env-file.js';

// Letters and digits only, so every case below fails for the reason it names, not another.
const S = `Zq${randomBytes(12).toString('hex')}Xw`;

/** The message of what `fn` throws (it must throw a ConfigError). */
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

/** No run of 4 characters of the secret appears in the text. */
function expectNoPieceOf(secret: string, text: string): void {
  for (let i = 0; i + 4 <= secret.length; i++) {
    expect(text, `"${secret.slice(i, i + 4)}" at ${i}`).not.toContain(secret.slice(i, i + 4));
  }
}

const FILE_CASES: [string, string, RegExp][] = [
  ['text after the closing quote', `A="x" ${S}`, /line 1: unexpected text after the closing/],
  ['a value line without =', `${S}`, /line 1: expected KEY=VALUE/],
  ['a lost line of a multi-line value', `A=x\n${S}-tail=1`, /line 2: invalid name before =/],
  ['a value with a space pasted as a key', `${S} ${S}=1`, /line 1: invalid name before =/],
  ['an unknown escape', `A="\\${S}"`, /line 1: unknown escape/],
  ['a quote never closed', `A="${S}\nB=${S}`, /line 1: the double quote is never closed/],
  ['a duplicate key', `A=${S}\nA=${S}x`, /line 2: A is already set on line 1/],
];

describe('errors from parsing secret text quote no value text', () => {
  it.each(FILE_CASES)('server env file (and the action secrets input): %s', (_, text, expected) => {
    const message = messageOf(() => parseEnvFile(text, 'input secrets'));
    expect(message).toMatch(expected);
    expectNoPieceOf(S, message);
  });

  it('server env file: a NUL byte in a value names the key', () => {
    const message = messageOf(() => parseEnvFile(`TOKEN=${S}\0`, 'preview.env'));
    expect(message).toMatch(/preview\.env: line 1: TOKEN contains a NUL byte/);
    expectNoPieceOf(S, message);
  });

  it.each([
    ['text after the closing quote', `A="x" ${S}`, /line 1: unexpected text after the closing/],
    ['a value line without =', `${S}`, /line 1: expected KEY=VALUE/],
    ['a lost line of a multi-line value', `A=x\n${S}-tail=1`, /line 2: invalid name before =/],
    ['a backtick never closed', `A=\`${S}\nB=1`, /line 1: the ` quote opened here/],
    ['a duplicate key', `A=${S}\nA=${S}x`, /line 2: A is already set on line 1/],
  ] as [string, string, RegExp][])('local .env file: %s', (_, text, expected) => {
    const message = messageOf(() => parseDotenv(text, '.env.preview'));
    expect(message).toMatch(expected);
    expectNoPieceOf(S, message);
  });

  it.each([
    ['a value given without its key', [S]],
    ['a key that is not a name', [`${S}-x=${S}`]],
    ['a value pasted with a space', [`${S} ${S}`]],
    ['a value systemd refuses', [`TOKEN=${S}\ufdd0${S}`]],
    ['a value with a NUL byte', [`TOKEN=${S}\0`]],
    ['a value with a lone surrogate', [`TOKEN=${S}\ud800`]],
  ] as [string, string[]][])('-s arguments: %s', (_, args) => {
    const message = messageOf(() => applyOverrideArgs(new Map(), ['OK=1', ...args]));
    expect(message).toMatch(/^-s (argument 2 of 2|TOKEN): /);
    expectNoPieceOf(S, message);
  });

  it('values systemd refuses are named by key when written, and the reason quotes no text', () => {
    for (const value of [`${S}\0`, `${S}\ufffe${S}`, `${S}\udc00`]) {
      const reason = envValueProblem(value);
      expect(reason).toBeDefined();
      expectNoPieceOf(S, reason!);
      const message = messageOf(() => serializeEnvFile([['TOKEN', value]]));
      expect(message).toMatch(/^TOKEN: /);
      expectNoPieceOf(S, message);
    }
  });
});
