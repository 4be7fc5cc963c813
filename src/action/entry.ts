import * as core from '@actions/core';
import { TossError } from '../errors.js';
import { STEP_LABELS } from '../pipeline/events.js';
import { StepError } from '../pipeline/step.js';
import { run } from './main.js';
import { post } from './post.js';
import { resumeCommands } from './reporter.js';

/** One bundle runs both steps, like actions/checkout: main, then post with the state main saved. */
export async function entry(): Promise<void> {
  const isPost = core.getState('isPost') === 'true';
  try {
    if (isPost) {
      await post();
    } else {
      core.saveState('isPost', 'true');
      await run();
    }
  } catch (error) {
    // The failure annotation must be a command again, whatever the build printed last.
    resumeCommands();
    fail(error);
  }
  resumeCommands();
  // Dangling handles (keepalive timers, sockets) must never keep a runner waiting.
  process.exit(process.exitCode ?? 0);
}

/** One error annotation, titled with the step that failed, plus what to do next. */
function fail(error: unknown): void {
  const step = error instanceof StepError ? STEP_LABELS[error.step] : undefined;
  const cause = error instanceof StepError ? error.cause : error;
  const message = cause instanceof Error ? cause.message : String(cause);
  const hint = cause instanceof TossError && cause.hint ? `\nhint: ${cause.hint}` : '';
  core.error(`${step ? `${step} failed: ` : ''}${message}${hint}`, {
    title: step ? `toss: ${step} failed` : 'toss failed',
  });
  process.exitCode = 1;
}
