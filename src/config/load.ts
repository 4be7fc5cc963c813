import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { formatIssues } from './errors-format.js';
import { withoutByteOrderMark } from './json-text.js';
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
  const body = withoutByteOrderMark(text);
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
  try {
    new JsonScanner(text).document();
  } catch (error) {
    if (error instanceof JsonSyntax) return { offset: error.offset, reason: error.reason };
    throw error;
  }
  // JSON.parse and this scanner disagree; point at the start rather than guess.
  return { offset: 0, reason: 'not valid JSON' };
}

/** A strict JSON reader that only checks: it throws a JsonSyntax at the first error. */
class JsonScanner {
  private i = 0;

  constructor(private readonly text: string) {}

  /** One value and nothing after it but whitespace. */
  document(): void {
    this.value(0);
    this.ws();
    if (this.i < this.text.length) this.fail('unexpected text after the JSON value');
  }

  private ws(): void {
    while (this.i < this.text.length && ' \t\n\r'.includes(this.text[this.i] as string)) this.i++;
  }

  private fail(reason: string): never {
    throw new JsonSyntax(this.i, reason);
  }

  /** Fails where `expected` should stand, naming the usual non-JSON habits found there instead. */
  private unexpected(expected: string): never {
    const char = this.text[this.i];
    if (char === undefined) return this.fail(`unexpected end of file, expected ${expected}`);
    if (char === '/') return this.fail('comments are not allowed in JSON');
    if (char === "'") return this.fail('strings must be in double quotes');
    return this.fail(`expected ${expected}`);
  }

  private value(depth: number): void {
    if (depth > MAX_DEPTH) this.fail('nested too deeply');
    this.ws();
    const char = this.text[this.i];
    if (char === '{') this.container(depth, '}', true);
    else if (char === '[') this.container(depth, ']', false);
    else if (char === '"') this.string();
    else if (char === 't') this.literal('true');
    else if (char === 'f') this.literal('false');
    else if (char === 'n') this.literal('null');
    else if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) this.number();
    else this.unexpected('a value');
  }

  private literal(word: string): void {
    if (this.text.startsWith(word, this.i)) this.i += word.length;
    else this.unexpected('a value');
  }

  private number(): void {
    const match = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(
      this.text.slice(this.i),
    );
    if (!match) this.unexpected('a value');
    this.i += (match as RegExpExecArray)[0].length;
  }

  private string(): void {
    this.i++;
    for (;;) {
      const char = this.text[this.i];
      if (char === undefined) this.fail('unterminated string');
      if (char === '"') break;
      if ((char as string) < ' ') {
        this.fail('control character in a string (write \\n, \\t or \\u00XX)');
      }
      if (char === '\\') this.escape();
      else this.i++;
    }
    this.i++;
  }

  /** A backslash and what it escapes. */
  private escape(): void {
    const next = this.text[this.i + 1];
    if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(this.text.slice(this.i + 2, this.i + 6))) {
      this.i += 6;
    } else if (next !== undefined && '"\\/bfnrt'.includes(next)) this.i += 2;
    else this.fail('invalid escape sequence in a string');
  }

  /** An object or an array, from its opening bracket; `close` is its closing one. */
  private container(depth: number, close: string, isObject: boolean): void {
    this.i++;
    this.ws();
    if (this.text[this.i] === close) {
      this.i++;
      return;
    }
    for (;;) {
      if (isObject) this.propertyName();
      this.value(depth + 1);
      this.ws();
      if (this.text[this.i] === close) {
        this.i++;
        return;
      }
      if (this.text[this.i] !== ',') this.unexpected(`"," or "${close}"`);
      this.i++;
      this.ws();
      if (this.text[this.i] === close) this.fail(`trailing comma before "${close}"`);
    }
  }

  /** A member's name and the colon after it. */
  private propertyName(): void {
    this.ws();
    if (this.text[this.i] !== '"') this.unexpected('a property name in double quotes');
    this.string();
    this.ws();
    if (this.text[this.i] !== ':') this.unexpected('":" after a property name');
    this.i++;
  }
}
