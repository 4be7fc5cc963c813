import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { formatIssues } from './errors-format.js';
import { type TossConfig, tossConfigSchema } from './schema.js';

const MAX_BYTES = 1024 * 1024;

/** Reads and validates a toss.json; every problem is a line of the ConfigError, prefixed by `path`. */
export async function loadConfig(path: string): Promise<TossConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`${path}: ${readProblem(error)}`]);
  }
  return parseConfigText(text, path);
}

/** Parses toss.json text; invalid JSON is reported as `<source>:<line>:<column>: invalid JSON: …`. */
export function parseConfigText(text: string, source = 'toss.json'): TossConfig {
  if (text.length > MAX_BYTES) throw new ConfigError([`${source}: larger than 1 MB`]);
  // Editors on Windows may save a byte-order mark, which JSON.parse rejects.
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    const { offset, reason } = locateJsonError(body);
    const { line, column } = lineAndColumn(body, offset);
    throw new ConfigError([`${source}:${line}:${column}: invalid JSON: ${reason}`]);
  }
  return parseConfig(json, source);
}

/** Validates parsed toss.json; throws a ConfigError holding every problem, one line each. */
export function parseConfig(json: unknown, source = 'toss.json'): TossConfig {
  const result = tossConfigSchema.safeParse(json);
  if (result.success) return result.data;
  throw new ConfigError(formatIssues(result.error.issues, json, source));
}

function readProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'not found; `toss init` creates one (or pass --config PATH)';
  if (code === 'EISDIR') return 'is a directory, expected a JSON file';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read (permission denied)';
  return `cannot be read (${code ?? String(error)})`;
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  const line = before.split('\n').length;
  // Columns count characters as editors do, not UTF-16 units.
  return { line, column: [...before.slice(lineStart)].length + 1 };
}

class JsonSyntax extends Error {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

// Deep enough for any real toss.json; bounds the recursion on hostile input.
const MAX_DEPTH = 256;

/**
 * Where JSON.parse gave up and why. V8's own message carries no position on Node 20 and quotes
 * the input, so a small strict scanner finds the first error instead.
 */
function locateJsonError(text: string): { offset: number; reason: string } {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const fail = (reason: string): never => {
    throw new JsonSyntax(i, reason);
  };
  const unexpected = (expected: string): never => {
    const char = text[i];
    if (char === undefined) return fail(`unexpected end of file, expected ${expected}`);
    if (char === '/') return fail('comments are not allowed in JSON');
    if (char === "'") return fail('strings must be in double quotes');
    return fail(`expected ${expected}`);
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else unexpected('a value');
  };
  const string = () => {
    i++;
    for (;;) {
      const char = text[i];
      if (char === undefined) fail('unterminated string');
      if (char === '"') break;
      if ((char as string) < ' ') fail('control character in a string (write \\n, \\t or \\u00XX)');
      if (char === '\\') {
        const next = text[i + 1];
        if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else if (next !== undefined && '"\\/bfnrt'.includes(next)) i += 2;
        else fail('invalid escape sequence in a string');
      } else i++;
    }
    i++;
  };
  const number = () => {
    const match = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i));
    if (!match) unexpected('a value');
    i += (match as RegExpExecArray)[0].length;
  };
  const value = (depth: number) => {
    if (depth > MAX_DEPTH) fail('nested too deeply');
    ws();
    const char = text[i];
    if (char === '{') container(depth, '}', true);
    else if (char === '[') container(depth, ']', false);
    else if (char === '"') string();
    else if (char === 't') literal('true');
    else if (char === 'f') literal('false');
    else if (char === 'n') literal('null');
    else if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) number();
    else unexpected('a value');
  };
  const container = (depth: number, close: string, isObject: boolean) => {
    i++;
    ws();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      if (isObject) {
        ws();
        if (text[i] !== '"') unexpected('a property name in double quotes');
        string();
        ws();
        if (text[i] !== ':') unexpected('":" after a property name');
        i++;
      }
      value(depth + 1);
      ws();
      if (text[i] === close) {
        i++;
        return;
      }
      if (text[i] !== ',') unexpected(`"," or "${close}"`);
      i++;
      ws();
      if (text[i] === close) fail(`trailing comma before "${close}"`);
    }
  };
  try {
    value(0);
    ws();
    if (i < text.length) fail('unexpected text after the JSON value');
  } catch (error) {
    if (error instanceof JsonSyntax) return { offset: error.offset, reason: error.reason };
    throw error;
  }
  // JSON.parse and this scanner disagree; point at the start rather than guess.
  return { offset: 0, reason: 'not valid JSON' };
}
