import { randomBytes } from 'node:crypto';
import { EOL } from 'node:os';
import * as core from '@actions/core';
import { type PipelineEvent, STEP_LABELS, type StepName } from '../pipeline/events.js';

/**
 * What the runner must mask for these secret values. It matches masks line by line, so a
 * multi-line value registered whole would still show line by line: each line is registered too.
 */
export function maskPieces(values: Iterable<string>): string[] {
  const pieces = new Set<string>();
  for (const value of values) {
    if (value.trim() === '') continue;
    pieces.add(value);
    for (const line of value.split(/\r\n|\r|\n/)) if (line.trim() !== '') pieces.add(line.trim());
  }
  return [...pieces];
}

export function maskSecretValues(values: Iterable<string>): void {
  for (const piece of maskPieces(values)) core.setSecret(piece);
}

/**
 * Text from the server (build output) is printed with workflow commands stopped: a build line
 * `::error::` or `::add-mask::` is shown, never obeyed. The token that resumes them is fresh and
 * random each time, so the build cannot print it. The runner masks secrets in stopped output too.
 */
let fence: string | undefined;

function stopCommands(): void {
  if (fence !== undefined) return;
  fence = randomBytes(16).toString('hex');
  process.stdout.write(`::stop-commands::${fence}${EOL}`);
}

/** Lets the action's own commands (groups, masks, annotations) through again. */
export function resumeCommands(): void {
  if (fence === undefined) return;
  process.stdout.write(`::${fence}::${EOL}`);
  fence = undefined;
}

/** Renders pipeline events in the job log: a collapsible group per step, notices and warnings. */
export function actionReporter(): {
  sink: (event: PipelineEvent) => void;
  failedStep(): StepName | undefined;
} {
  let open = false;
  let failed: StepName | undefined;
  const close = () => {
    if (open) core.endGroup();
    open = false;
  };
  return {
    sink(event) {
      if (event.server !== undefined) {
        // Production on several servers: their steps run at the same time, and a job log's
        // groups cannot interleave, so each line names its server instead.
        if (event.type === 'step-fail') failed = event.step;
        serverLine(event, event.server, close);
        return;
      }
      if (event.type === 'output') {
        stopCommands();
        core.info(event.line);
        return;
      }
      resumeCommands();
      switch (event.type) {
        case 'step-start':
          close();
          core.startGroup(STEP_LABELS[event.step]);
          open = true;
          return;
        case 'step-done':
          core.info(
            `done in ${(event.ms / 1000).toFixed(1)} s${event.detail ? ` (${event.detail})` : ''}`,
          );
          close();
          return;
        case 'step-fail':
          failed = event.step;
          close();
          return;
        case 'secrets':
          maskSecretValues(event.values);
          return;
        case 'notice':
          core.notice(event.message);
          return;
        case 'warning':
          core.warning(event.message);
          return;
      }
    },
    failedStep: () => failed,
  };
}

/** One event of one server of several, as a line prefixed with its name (no group). */
function serverLine(event: PipelineEvent, server: string, closeGroup: () => void): void {
  const prefix = `[${server}]`;
  if (event.type === 'output') {
    stopCommands();
    core.info(`${prefix} ${event.line}`);
    return;
  }
  resumeCommands();
  closeGroup();
  switch (event.type) {
    case 'step-start':
      return;
    case 'step-done':
      core.info(
        `${prefix} ${STEP_LABELS[event.step]} done in ${(event.ms / 1000).toFixed(1)} s${event.detail ? ` (${event.detail})` : ''}`,
      );
      return;
    case 'step-fail':
      core.info(`${prefix} ${STEP_LABELS[event.step]} failed`);
      return;
    case 'secrets':
      maskSecretValues(event.values);
      return;
    case 'notice':
      core.notice(`${prefix} ${event.message}`);
      return;
    case 'warning':
      core.warning(`${prefix} ${event.message}`);
      return;
  }
}
