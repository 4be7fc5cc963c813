/**
 * Local `.env` files, as `toss secrets push|pull` reads and writes them. Values are read by the
 * reference dotenv parser (the `dotenv` package); dotenv silently skips lines it cannot read, so
 * a pass of our own first finds every entry and names the line of each problem.
 */
import { parse as dotenvParse } from 'dotenv';
import { ConfigError } from '../errors.js';
import {
  type EntryReading,
  gatherQuoted,
  INVALID_NAME,
  isEnvKey,
  scanEntries,
  textAfterQuote,
} from '../server/env-file.js';

const ASSIGNMENT = /^[ \t]*(?:export[ \t]+)?([^=\s]*)[ \t]*=[ \t]*(.*)$/;
const QUOTES = new Set(['"', "'", '`']);

/** KEY=VALUE entries in file order; throws one ConfigError naming every bad line. */
export function parseDotenv(text: string, source = '.env file'): Map<string, string> {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const { entries, firstLine, problems } = scanEntries(lines, source, readDotenvEntry);
  // Our reading of the entries and dotenv's reading of the whole file must agree.
  if (problems.length === 0)
    problems.push(...disagreements(text, lines, entries, firstLine, source));
  if (problems.length > 0) throw new ConfigError(problems);
  return entries;
}

/**
 * One entry of a .env file: its lines are found here (a quoted value runs to the line holding
 * its closing quote), its value is what dotenv reads from them.
 */
function readDotenvEntry(lines: readonly string[], start: number): EntryReading {
  const line = lines[start] ?? '';
  let next = start + 1;
  if (line.trim() === '' || line.trimStart().startsWith('#')) return { next };
  const match = ASSIGNMENT.exec(line);
  if (match === null) return { next, problem: 'expected KEY=VALUE' };
  const key = match[1] ?? '';
  const rest = match[2] ?? '';
  // Not quoted: what stands before `=` may be part of a value (a line of a multi-line one).
  if (!isEnvKey(key)) return { next, problem: INVALID_NAME };
  const quote = rest[0];
  if (quote !== undefined && QUOTES.has(quote)) {
    const gathered = gatherQuoted(lines, next, rest.slice(1), (body) => closingQuote(body, quote));
    // An unclosed quote is reported on its line, and the lines after it are read as entries.
    if (gathered.closed === undefined) {
      return { next, problem: `the ${quote} quote opened here is never closed` };
    }
    next = gathered.next;
    const after = textAfterQuote(gathered.body, gathered.closed);
    if (after !== undefined) return { next, problem: after };
  }
  const parsed = dotenvParse(lines.slice(start, next).join('\n'));
  const value = parsed[key];
  if (value === undefined || Object.keys(parsed).length !== 1) {
    return { next, problem: 'dotenv cannot read this line' };
  }
  return { next, key, value };
}

/** Where dotenv, reading the whole file at once, reads other entries than the entry by entry. */
function disagreements(
  text: string,
  lines: readonly string[],
  entries: ReadonlyMap<string, string>,
  firstLine: ReadonlyMap<string, number>,
  source: string,
): string[] {
  const problems: string[] = [];
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
  return problems;
}

/** Index of the first closing `quote` in body not escaped by a backslash, or undefined. */
function closingQuote(body: string, quote: string): number | undefined {
  for (let j = 0; j < body.length; j++) {
    if (body[j] === '\\' && quote !== "'") {
      j++;
      continue;
    }
    if (body[j] === quote) return j;
  }
  return undefined;
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
