/** Reading the JSON files toss keeps on the server (state.json, registry.json). */
import type { z } from 'zod';
import { TossError } from '../errors.js';

/** The file's text as JSON; a TossError naming the file (with `hint`, if any) when it is not. */
export function parseJsonText(text: string, file: string, hint?: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const message = `${file} is not valid JSON: ${(error as Error).message}`;
    throw new TossError(message, hint === undefined ? undefined : { hint });
  }
}

/** `json` as `schema` reads it; otherwise a TossError listing each problem by its path. */
export function parseJsonShape<S extends z.ZodType>(
  schema: S,
  json: unknown,
  file: string,
  what: string,
): z.output<S> {
  const result = schema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map(
      (i) => `${i.path.join('.') || '(root)'}: ${i.message}`,
    );
    throw new TossError(`${file} is not a valid ${what}:\n${problems.join('\n')}`);
  }
  return result.data;
}
