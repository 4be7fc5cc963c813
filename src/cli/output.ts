import { ConfigError, TossError, UsageError } from '../errors.js';
import { STEP_LABELS } from '../pipeline/events.js';
import { StepError } from '../pipeline/step.js';

/** Prints an error once, with the step it happened in and its hint, and returns the exit status. */
export function renderError(error: unknown): number {
  const step = error instanceof StepError ? error.step : undefined;
  const cause = error instanceof StepError ? error.cause : error;
  const where = step ? `${STEP_LABELS[step]} failed: ` : '';
  if (cause instanceof ConfigError) {
    process.stderr.write(`${cause.problems.map((p) => `error: ${p}`).join('\n')}\n`);
  } else if (cause instanceof TossError) {
    process.stderr.write(`error: ${where}${cause.message}\n`);
  } else {
    const text = cause instanceof Error ? (cause.stack ?? cause.message) : String(cause);
    process.stderr.write(`error: ${where}unexpected failure: ${text}\n`);
  }
  if (cause instanceof TossError && cause.hint) process.stderr.write(`hint: ${cause.hint}\n`);
  return cause instanceof UsageError ? 2 : 1;
}
