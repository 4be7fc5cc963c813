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
      // Production on several servers: their steps run at the same time and a job log's groups
      // cannot interleave, so a server's lines name it instead of sitting in a group.
      const tag = event.server === undefined ? undefined : `[${event.server}]`;
      const line = tagged(tag);
      if (event.type === 'output') {
        stopCommands();
        core.info(line(event.line));
        return;
      }
      resumeCommands();
      if (tag !== undefined) close();
      switch (event.type) {
        case 'step-start':
          close();
          if (tag === undefined) {
            core.startGroup(STEP_LABELS[event.step]);
            open = true;
          }
          return;
        case 'step-done':
          core.info(endLine(event, tag));
          close();
          return;
        case 'step-fail':
          failed = event.step;
          close();
          if (tag !== undefined) core.info(endLine(event, tag));
          return;
        case 'secrets':
          maskSecretValues(event.values);
          return;
        case 'notice':
          core.notice(line(event.message));
          return;
        case 'warning':
          core.warning(line(event.message));
          return;
      }
    },
    failedStep: () => failed,
  };
}

/** A step's end: "done in …" inside its group, or the whole line, tagged with its server. */
function endLine(
  event: Extract<PipelineEvent, { type: 'step-done' | 'step-fail' }>,
  tag: string | undefined,
): string {
  const end =
    event.type === 'step-fail'
      ? 'failed'
      : `done in ${(event.ms / 1000).toFixed(1)} s${event.detail ? ` (${event.detail})` : ''}`;
  return tag === undefined ? end : `${tag} ${STEP_LABELS[event.step]} ${end}`;
}

/** A line as it is printed: as it is, or prefixed with its server's tag. */
function tagged(tag: string | undefined): (text: string) => string {
  return (text) => (tag === undefined ? text : `${tag} ${text}`);
}
