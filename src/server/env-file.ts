/**
 * Secrets and env files. Users write dotenv; systemd reads what we write (EnvironmentFile=, see
 * systemd.exec(5)). The parser is strict and names the line of every problem; the serializer
 * writes a form systemd reads back byte for byte.
 */
import { PRODUCTION } from '../config/env-name.js';
import { ConfigError } from '../errors.js';
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

/**
 * KEY=VALUE lines, optional `export `, `#` comments, blank lines; values unquoted (a ` #` starts
 * a comment), 'single-quoted' (verbatim) or "double-quoted" (escapes above); quoted values may
 * span lines. No `$VAR` expansion. Throws one ConfigError listing every bad line.
 */
export function parseEnvFile(text: string, source = 'env file'): EnvEntries {
  const entries: EnvEntries = new Map();
  const firstLine = new Map<string, number>();
  const problems: string[] = [];
  const lines = text.split('\n');
  let i = 0;
  while (i < lines.length) {
    const lineNo = i + 1;
    // Only the start is trimmed here: a quoted value keeps the spaces before its line break.
    let rest = (lines[i++] ?? '').replace(/^[ \t]+/, '');
    if (rest.trim() === '' || rest.startsWith('#')) continue;
    const problem = (message: string) => problems.push(`${source}: line ${lineNo}: ${message}`);
    rest = rest.replace(/^export[ \t]+/, '');
    const eq = rest.indexOf('=');
    if (eq === -1) {
      problem('expected KEY=VALUE');
      continue;
    }
    const key = rest.slice(0, eq).trimEnd();
    let value = rest.slice(eq + 1).trimStart();
    const quote = value[0];
    if (quote === '"' || quote === "'") {
      // Gather lines until the closing quote.
      let body = value.slice(1);
      let parsed = scanQuoted(body, quote);
      while (parsed === undefined && i < lines.length) {
        body += `\n${lines[i++] ?? ''}`;
        parsed = scanQuoted(body, quote);
      }
      if (parsed === undefined) {
        problem(`the ${quote === '"' ? 'double' : 'single'} quote is never closed`);
        continue;
      }
      if ('error' in parsed) {
        problem(parsed.error);
        continue;
      }
      const after = body.slice(parsed.end + 1).trim();
      if (after !== '' && !after.startsWith('#')) {
        problem('unexpected text after the closing quote (a comment starts with #)');
        continue;
      }
      value = parsed.value;
    } else {
      value = value.replace(/[ \t]#.*$/, '').trimEnd();
    }
    if (!isEnvKey(key)) {
      // Not quoted: what stands before `=` may be part of a value (a line of a multi-line one).
      problem('invalid name before =: use letters, digits and _, not starting with a digit');
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
    firstLine.set(key, lineNo);
    entries.set(key, value);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return entries;
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
    ['PORT', String(params.port)],
    ['HOST', '127.0.0.1'],
  ]);
}
