import * as core from '@actions/core';
import { type PipelineEvent, STEP_LABELS, type StepName } from '../pipeline/events.js';

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
        case 'output':
          core.info(event.line);
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
