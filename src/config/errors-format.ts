import type { z } from 'zod';

/** Longest rendering of a value in a message; hostile input must not flood a terminal or a log. */
const MAX_VALUE_CHARS = 40;

/** Fields whose value is never echoed (a plain password pasted in place of its hash). */
const REDACTED_PATHS = new Set(['previewAuth.passwordHash']);

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
// Control, format (bidi overrides, zero-width) and line/paragraph separators: invisible or terminal-active.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
// One rendered character: an escape sequence or a single code point, so a cut never splits either.
const RENDERED_CHAR = /\\u\{[0-9a-f]+\}|\\u[0-9a-fA-F]{4}|\\.|[\s\S]/gu;

/** A value as it appears in a message: JSON, invisible characters escaped, cut to ~40 characters. */
export function formatValue(value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined;
  }
  if (json === undefined) return typeof value;
  const escaped = json.replace(INVISIBLE, escapeCodePoint);
  const chars = escaped.match(RENDERED_CHAR) ?? [];
  if (chars.length <= MAX_VALUE_CHARS) return escaped;
  return `${chars.slice(0, MAX_VALUE_CHARS - 1).join('')}…`;
}

function escapeCodePoint(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** A field path as users write it: `healthCheck.path`, `deployScript[2]`, `branches["feature/*"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && IDENTIFIER.test(key)) out += out ? `.${key}` : key;
    else out += `[${formatValue(typeof key === 'symbol' ? String(key) : key)}]`;
  }
  return out;
}

/**
 * One line per problem, e.g. `toss.json: keepReleases: expected a whole number ≥ 2, got "three"`.
 * Schema messages say what is expected; the line adds where and what was found.
 */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  source: string,
): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    for (const text of describeIssue(issue, input)) lines.push(`${source}: ${text}`);
  }
  // Several failed checks on one field carry the same message; say it once.
  return [...new Set(lines)];
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string[] {
  const at = (path: readonly PropertyKey[]) => (path.length > 0 ? `${formatPath(path)}: ` : '');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${at(issue.path)}unknown field ${formatValue(key)}`);
  }
  if (issue.code === 'invalid_key') {
    // The path ends with the offending key; the inner issue says what a key must look like.
    const parent = issue.path.slice(0, -1);
    const key = issue.path[issue.path.length - 1];
    const expected = issue.issues[0]?.message ?? issue.message;
    return [`${at(parent)}${expected}, got ${formatValue(key)}`];
  }
  const found = valueAt(input, issue.path);
  if (issue.code === 'invalid_type' && !found.present) return [`${at(issue.path)}required`];
  // A field required by a check across fields (startCommand unless static) has no value to show.
  if (issue.code === 'custom' && !found.present) return [`${at(issue.path)}${issue.message}`];
  const got = REDACTED_PATHS.has(formatPath(issue.path)) ? '(not shown)' : formatValue(found.value);
  return [`${at(issue.path)}${issue.message}, got ${got}`];
}

function valueAt(
  input: unknown,
  path: readonly PropertyKey[],
): { present: boolean; value: unknown } {
  let value = input;
  for (const key of path) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) {
      return { present: false, value: undefined };
    }
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return { present: true, value };
}
