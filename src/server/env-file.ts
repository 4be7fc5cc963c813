/**
 * Secrets and env files. Users write dotenv; systemd reads what we write (EnvironmentFile=, see
 * systemd.exec(5)). The parser is strict and names the line of every problem; the serializer
 * writes a form systemd reads back byte for byte.
 */
import { PRODUCTION } from '../config/env-name.js';
import { ConfigError } from '../errors.js';
import { databaseVariables } from './database.js';
import { envPaths } from './paths.js';

export type EnvEntries = Map<string, string>;

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Escapes inside double quotes: dotenv's \n \r \t, and the shell's \" \\ \$ \`.
const ESCAPES: Record<string, string> = {
  n: '\n',
  r: '\r',
  t: '\t',
  '"': '"',
  '\\': '\\',
  $: '$',
  '`': '`',
};

/** The problem with a name before `=` that is not an environment variable name. */
export const INVALID_NAME =
  'invalid name before =: use letters, digits and _, not starting with a digit';

export function isEnvKey(key: string): boolean {
  return KEY.test(key);
}

// systemd refuses to start a unit whose EnvironmentFile= holds a code point its UTF-8 check rejects
// ("Failed to run 'start' task: Invalid argument", only in the journal): the noncharacters
// U+FDD0–U+FDEF and U+xFFFE/U+xFFFF (unichar_is_valid, src/basic/utf8.c), or a lone surrogate.
// Control characters, tabs and newlines pass (seen on systemd 252).
const SYSTEMD_UNSAFE =
  /[\ufdd0-\ufdef]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why systemd could not pass `value` to a program unchanged, or undefined when it can. */
export function envValueProblem(value: string): string | undefined {
  if (value.includes('\0')) return 'the value contains a NUL byte';
  const bad = SYSTEMD_UNSAFE.exec(value)?.[0];
  const code =
    bad?.charCodeAt(0) ??
    [...value].map((c) => c.codePointAt(0)!).find((c) => (c & 0xfffe) === 0xfffe);
  if (code === undefined) return undefined;
  const hex = code.toString(16).toUpperCase().padStart(4, '0');
  return `the value contains U+${hex}, which is not a valid character: systemd refuses to start a unit with it in its environment`;
}

/** What one entry's reader made of the lines from its first one: `next` is where the next begins. */
export type EntryReading =
  | { next: number; key: string; value: string }
  | { next: number; problem: string }
  /** a blank or comment line */
  | { next: number };

/** Entries in file order, the line each key was first set on, and every problem found. */
export interface ScannedEntries {
  entries: EnvEntries;
  firstLine: Map<string, number>;
  problems: string[];
}

/**
 * The line structure both env dialects share: entries read one after the other by `readEntry`
 * (which knows the dialect's syntax), each problem prefixed with the source and the entry's first
 * line, and the checks every value gets (no NUL byte, no key set twice).
 */
export function scanEntries(
  lines: readonly string[],
  source: string,
  readEntry: (lines: readonly string[], start: number) => EntryReading,
): ScannedEntries {
  const entries: EnvEntries = new Map();
  const firstLine = new Map<string, number>();
  const problems: string[] = [];
  let start = 0;
  while (start < lines.length) {
    const reading = readEntry(lines, start);
    const lineNo = start + 1;
    start = reading.next;
    const problem = 'problem' in reading ? reading.problem : entryProblem(reading, firstLine);
    if (problem !== undefined) {
      problems.push(`${source}: line ${lineNo}: ${problem}`);
    } else if ('key' in reading) {
      firstLine.set(reading.key, lineNo);
      entries.set(reading.key, reading.value);
    }
  }
  return { entries, firstLine, problems };
}

function entryProblem(
  reading: EntryReading,
  firstLine: ReadonlyMap<string, number>,
): string | undefined {
  if (!('key' in reading)) return undefined;
  const { key, value } = reading;
  if (value.includes('\0')) return `${key} contains a NUL byte`;
  const seen = firstLine.get(key);
  return seen === undefined ? undefined : `${key} is already set on line ${seen}`;
}

/**
 * A quoted value's text from after its opening quote, gathered line by line until `close` finds
 * the closing quote (values may span lines). `closed` is undefined when the file ends first.
 */
export function gatherQuoted<T>(
  lines: readonly string[],
  next: number,
  first: string,
  close: (body: string) => T | undefined,
): { body: string; next: number; closed: T | undefined } {
  let body = first;
  let closed = close(body);
  while (closed === undefined && next < lines.length) {
    body += `\n${lines[next++] ?? ''}`;
    closed = close(body);
  }
  return { body, next, closed };
}

/** The text after a closing quote (at `end` in body) may only be a comment. */
export function textAfterQuote(body: string, end: number): string | undefined {
  const after = body.slice(end + 1).trim();
  return after !== '' && !after.startsWith('#')
    ? 'unexpected text after the closing quote (a comment starts with #)'
    : undefined;
}

/**
 * KEY=VALUE lines, optional `export `, `#` comments, blank lines; values unquoted (a ` #` starts
 * a comment), 'single-quoted' (verbatim) or "double-quoted" (escapes above); quoted values may
 * span lines. No `$VAR` expansion. Throws one ConfigError listing every bad line.
 */
export function parseEnvFile(text: string, source = 'env file'): EnvEntries {
  const { entries, problems } = scanEntries(text.split('\n'), source, readEnvFileEntry);
  if (problems.length > 0) throw new ConfigError(problems);
  return entries;
}

/** One entry of an env file; the name is checked once its value, on however many lines, is read. */
function readEnvFileEntry(lines: readonly string[], start: number): EntryReading {
  const next = start + 1;
  // Only the start is trimmed here: a quoted value keeps the spaces before its line break.
  const line = (lines[start] ?? '').replace(/^[ \t]+/, '');
  if (line.trim() === '' || line.startsWith('#')) return { next };
  const rest = line.replace(/^export[ \t]+/, '');
  const eq = rest.indexOf('=');
  if (eq === -1) return { next, problem: 'expected KEY=VALUE' };
  const key = rest.slice(0, eq).trimEnd();
  const value = readEnvFileValue(lines, next, rest.slice(eq + 1).trimStart());
  if ('problem' in value) return value;
  if (!isEnvKey(key)) {
    // Not quoted: what stands before `=` may be part of a value (a line of a multi-line one).
    return { next: value.next, problem: INVALID_NAME };
  }
  return { next: value.next, key, value: value.value };
}

/** The value after `=` (`text`), and where the next entry begins. */
function readEnvFileValue(
  lines: readonly string[],
  next: number,
  text: string,
): { next: number; value: string } | { next: number; problem: string } {
  const quote = text[0];
  if (quote !== '"' && quote !== "'") {
    return { next, value: text.replace(/[ \t]#.*$/, '').trimEnd() };
  }
  const gathered = gatherQuoted(lines, next, text.slice(1), (body) => scanQuoted(body, quote));
  const { body, closed } = gathered;
  if (closed === undefined) {
    const name = quote === '"' ? 'double' : 'single';
    return { next: gathered.next, problem: `the ${name} quote is never closed` };
  }
  if ('error' in closed) return { next: gathered.next, problem: closed.error };
  const after = textAfterQuote(body, closed.end);
  if (after !== undefined) return { next: gathered.next, problem: after };
  return { next: gathered.next, value: closed.value };
}

type Scan = { value: string; end: number } | { error: string } | undefined;

/** The value up to the closing quote (index `end`), or undefined when it is not closed yet. */
function scanQuoted(body: string, quote: '"' | "'"): Scan {
  if (quote === "'") {
    const end = body.indexOf("'");
    return end === -1 ? undefined : { value: body.slice(0, end), end };
  }
  let value = '';
  for (let j = 0; j < body.length; j++) {
    const ch = body[j] as string;
    if (ch === '"') return { value, end: j };
    if (ch !== '\\') {
      value += ch;
      continue;
    }
    const next = body[++j];
    if (next === undefined) return undefined;
    const replacement = ESCAPES[next];
    if (replacement === undefined) {
      return {
        error:
          'unknown escape after a backslash (known: \\n \\r \\t \\" \\\\ \\$ \\`; write \\\\ for a backslash)',
      };
    }
    value += replacement;
  }
  return undefined;
}

/**
 * `KEY="value"` lines. In systemd's double quotes a backslash keeps `"`, `\`, `$` and `` ` ``
 * and a newline may stand as is; `$` is never expanded there, but escaping it costs nothing.
 */
export function serializeEnvFile(entries: Iterable<[string, string]>): string {
  let out = '';
  for (const [key, value] of entries) {
    if (!isEnvKey(key))
      throw new ConfigError([`invalid environment variable name ${JSON.stringify(key)}`]);
    const problem = envValueProblem(value);
    if (problem !== undefined) throw new ConfigError([`${key}: ${problem}`]);
    out += `${key}="${value.replace(/["\\$`]/g, (ch) => `\\${ch}`)}"\n`;
  }
  return out;
}

/** Base secrets, then the environment's overrides, then toss's own variables: later wins. */
export function mergeEnv(
  base: ReadonlyMap<string, string>,
  overrides: ReadonlyMap<string, string>,
  tossVars: ReadonlyMap<string, string>,
): EnvEntries {
  return new Map([...base, ...overrides, ...tossVars]);
}

/**
 * `toss deploy -s KEY=VAL` / `-s KEY=`: set or (empty value) remove an override. A malformed
 * argument is named by its position: its text may be a value (a secret pasted without its key).
 */
export function applyOverrideArgs(
  existing: ReadonlyMap<string, string>,
  args: readonly string[],
): EnvEntries {
  const next: EnvEntries = new Map(existing);
  const problems: string[] = [];
  for (const [index, arg] of args.entries()) {
    const eq = arg.indexOf('=');
    const key = eq === -1 ? arg : arg.slice(0, eq);
    if (eq === -1 || !isEnvKey(key)) {
      problems.push(
        `-s argument ${index + 1} of ${args.length}: expected KEY=VALUE (KEY= removes it), KEY of letters, digits and _`,
      );
      continue;
    }
    const value = arg.slice(eq + 1);
    const problem = envValueProblem(value);
    if (problem !== undefined) problems.push(`-s ${key}: ${problem}`);
    else if (value === '') next.delete(key);
    else next.set(key, value);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return next;
}

export interface TossVarsParams {
  app: string;
  environment: string;
  releaseId: string;
  /** the port the release is started on (the unit sets PORT/TOSS_PORT again from its instance) */
  port: number;
  /** the environment's public URL (OAuth callbacks, CORS, absolute links) */
  url: string;
  /** toss.json has `database`: DATABASE_URL and libpq's PG* variables for its own database */
  database?: boolean | undefined;
}

/** TOSS_* variables, PORT and HOST, as every release (and its deployScript) sees them. */
export function tossVariables(params: TossVarsParams): EnvEntries {
  const p = envPaths(params.app, params.environment);
  return new Map([
    ['TOSS_ENV', p.environment],
    ['TOSS_APP', p.app],
    ['TOSS_RELEASE', params.releaseId],
    ['TOSS_PORT', String(params.port)],
    ['TOSS_RELEASE_DIR', p.releaseDir(params.releaseId)],
    ['TOSS_ENV_DIR', p.envDir],
    ['TOSS_PROD_DIR', envPaths(params.app, PRODUCTION).envDir],
    ['TOSS_CACHE_DIR', p.cacheDir],
    ['TOSS_URL', params.url],
    ['PORT', String(params.port)],
    ['HOST', '127.0.0.1'],
    ...(params.database ? databaseVariables(p.app, p.environment) : []),
  ]);
}
