import type { EventSink, StepName } from './events.js';

/** Tags an error with the step it happened in, so doors can say which step failed. */
export class StepError extends Error {
  override name = 'StepError';
  constructor(
    readonly step: StepName,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** Runs one step, timing it and reporting start, done or failure. */
export function step<T>(
  sink: EventSink,
  name: StepName,
  body: () => Promise<T>,
  detail?: (result: T) => string | undefined,
): Promise<T> {
  return stepSince(performance.now(), sink, name, body, detail);
}

/**
 * A step whose work began at `started` (performance.now()), before the step could be reported in
 * order: reported now, timed from then.
 */
export async function stepSince<T>(
  started: number,
  sink: EventSink,
  name: StepName,
  body: () => Promise<T>,
  detail?: (result: T) => string | undefined,
): Promise<T> {
  sink({ type: 'step-start', step: name });
  try {
    const result = await body();
    const text = detail?.(result);
    sink({
      type: 'step-done',
      step: name,
      ms: performance.now() - started,
      ...(text ? { detail: text } : {}),
    });
    return result;
  } catch (error) {
    sink({ type: 'step-fail', step: name, ms: performance.now() - started, error });
    throw error instanceof StepError ? error : new StepError(name, error);
  }
}

/** Splits streamed output into whole lines for `output` events. */
export function lineSplitter(emit: (line: string) => void): {
  push: (chunk: Buffer) => void;
  flush: () => void;
} {
  let buffer = '';
  const decoder = new TextDecoder();
  return {
    push(chunk) {
      buffer += decoder.decode(chunk, { stream: true });
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        emit(buffer.slice(0, newline).replace(/\r$/, ''));
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
      }
    },
    flush() {
      buffer += decoder.decode();
      if (buffer) emit(buffer);
      buffer = '';
    },
  };
}
