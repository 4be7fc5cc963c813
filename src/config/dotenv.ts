/**
 * Local `.env` files, as `toss secrets push|pull` reads and writes them. Values are read by the
 * reference dotenv parser (the `dotenv` package); dotenv silently skips lines it cannot read, so
 * a pass of our own first finds every entry and names the line of each problem.
 */
import { parse as dotenvParse } from 'dotenv';
import { ConfigError } from '../errors.js';
import { isEnvKey } from '../server/env-file.js';

const ASSIGNMENT = /^[ \t]*(?:export[ \t]+)?([^=\s]*)[ \t]*=[ \t]*(.*)$/;
const QUOTES = new Set(['"', "'", '`']);

/** KEY=VALUE entries in file order; throws one ConfigError naming every bad line. */
export function parseDotenv(text: string, source = '.env file'): Map<string, string> {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const entries = new Map<string, string>();
  const firstLine = new Map<string, number>();
  const problems: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const start = i;
    const line = lines[i++] ?? '';
    const problem = (message: string) => problems.push(`${source}: line ${start + 1}: ${message}`);
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const match = ASSIGNMENT.exec(line);
    if (match === null) {
      problem('expected KEY=VALUE');
      continue;
    }
    const key = match[1] ?? '';
    const rest = match[2] ?? '';
    if (!isEnvKey(key)) {
      // Not quoted: what stands before `=` may be part of a value (a line of a multi-line one).
      problem('invalid name before =: use letters, digits and _, not starting with a digit');
      continue;
    }
    const quote = rest[0];
    if (quote !== undefined && QUOTES.has(quote)) {
      // The entry runs to the line holding the closing quote (values may span lines).
      let body = rest.slice(1);
      let close = closingQuote(body, quote);
      while (close === -1 && i < lines.length) {
        body += `\n${lines[i++] ?? ''}`;
        close = closingQuote(body, quote);
      }
      if (close === -1) {
        problem(`the ${quote} quote opened here is never closed`);
        i = start + 1;
        continue;
      }
      const after = body.slice(close + 1).trim();
      if (after !== '' && !after.startsWith('#')) {
        problem('unexpected text after the closing quote (a comment starts with #)');
        continue;
      }
    }
    const entryText = lines.slice(start, i).join('\n');
    const parsed = dotenvParse(entryText);
    const value = parsed[key];
    if (value === undefined || Object.keys(parsed).length !== 1) {
      problem('dotenv cannot read this line');
      continue;
    }
    if (value.includes('\0')) {
      problem(`${key} contains a NUL byte`);
      continue;
    }
    const seen = firstLine.get(key);
    if (seen !== undefined) {
      problem(`${key} is already set on line ${seen}`);
      continue;
    }
    firstLine.set(key, start + 1);
    entries.set(key, value);
  }
  if (problems.length === 0) {
    // Our reading of the entries and dotenv's reading of the whole file must agree.
    const whole = dotenvParse(text);
    for (const [key, value] of entries) {
      if (whole[key] !== value) {
        problems.push(
          `${source}: line ${firstLine.get(key)}: dotenv reads ${key} differently in the whole file; check the quotes around it`,
        );
      }
    }
    // A stray entry's name is text dotenv found inside what this parser read as a value: the line
    // it starts on is named, not the text.
    for (const key of Object.keys(whole)) {
      if (entries.has(key)) continue;
      const line = lines.findIndex((l) => l.replace(/^\s*(?:export\s+)?/, '').startsWith(key));
      problems.push(
        `${source}: ${line === -1 ? '' : `line ${line + 1}: `}dotenv reads an extra entry inside a value; check the quotes`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return entries;
}

/** Index of the first closing `quote` in body not escaped by a backslash, or -1. */
function closingQuote(body: string, quote: string): number {
  for (let j = 0; j < body.length; j++) {
    if (body[j] === '\\' && quote !== "'") {
      j++;
      continue;
    }
    if (body[j] === quote) return j;
  }
  return -1;
}

/** dotenv reads `line` as key=value, and so does parseDotenv (a push of a pulled file works). */
function readsBackAs(line: string, key: string, value: string): boolean {
  if (dotenvParse(line)[key] !== value) return false;
  try {
    return parseDotenv(line).get(key) === value;
  } catch {
    return false;
  }
}

/**
 * Dotenv text that dotenv reads back to exactly these values: each value in the first quoting
 * that round-trips through the parser itself.
 */
export function formatDotenv(entries: Iterable<[string, string]>, header?: string): string {
  let out = header === undefined ? '' : `${header.replace(/^/gm, '# ')}\n`;
  const problems: string[] = [];
  for (const [key, value] of entries) {
    if (!isEnvKey(key)) {
      problems.push(`invalid environment variable name ${JSON.stringify(key)}`);
      continue;
    }
    const candidates = [
      `'${value}'`,
      `"${value}"`,
      `\`${value}\``,
      `"${value.replace(/\r/g, '\\r').replace(/\n/g, '\\n')}"`,
    ];
    const line = candidates
      .map((quoted) => `${key}=${quoted}`)
      .find((candidate) => readsBackAs(candidate, key, value));
    if (line === undefined) {
      problems.push(`${key}: its value cannot be written so that dotenv reads it back unchanged`);
      continue;
    }
    out += `${line}\n`;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}
