import { ConfigError, TossError, UsageError } from '../errors.js';

/** Prints an error once, with its hint, and returns the exit status for it. */
export function renderError(error: unknown): number {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.problems.map((p) => `error: ${p}`).join('\n')}\n`);
  } else if (error instanceof TossError) {
    process.stderr.write(`error: ${error.message}\n`);
  } else {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`error: unexpected failure: ${text}\n`);
  }
  if (error instanceof TossError && error.hint) process.stderr.write(`hint: ${error.hint}\n`);
  return error instanceof UsageError ? 2 : 1;
}
