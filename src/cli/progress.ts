import { type PipelineEvent, STEP_LABELS } from '../pipeline/events.js';

export interface ProgressOptions {
  tty: boolean;
  color: boolean;
  write: (text: string) => void;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** Renders pipeline events: one line per step with its duration on a TTY, plain prefixed lines elsewhere. */
export function progressPrinter(options: ProgressOptions): (event: PipelineEvent) => void {
  const paint = (code: string, text: string) =>
    options.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  const { write } = options;
  return (event) => {
    switch (event.type) {
      case 'step-start':
        if (!options.tty) write(`toss: ${STEP_LABELS[event.step]}…\n`);
        return;
      case 'step-done': {
        const detail = event.detail ? ` ${paint('2', event.detail)}` : '';
        write(
          options.tty
            ? `${paint('32', '✓')} ${STEP_LABELS[event.step]} ${paint('2', seconds(event.ms))}${detail}\n`
            : `toss: ${STEP_LABELS[event.step]} done in ${seconds(event.ms)}${event.detail ? ` (${event.detail})` : ''}\n`,
        );
        return;
      }
      case 'step-fail':
        write(
          options.tty
            ? `${paint('31', '✗')} ${STEP_LABELS[event.step]} ${paint('2', seconds(event.ms))}\n`
            : `toss: ${STEP_LABELS[event.step]} failed after ${seconds(event.ms)}\n`,
        );
        return;
      case 'output':
        write(options.tty ? `  ${paint('2', '│')} ${event.line}\n` : `  ${event.line}\n`);
        return;
      case 'notice':
        write(`${paint('36', 'notice:')} ${event.message}\n`);
        return;
      case 'warning':
        write(`${paint('33', 'warning:')} ${event.message}\n`);
        return;
      case 'secrets':
        // A terminal is the user's own: nothing to mask.
        return;
    }
  };
}

/** Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function useColor(
  stream: NodeJS.WriteStream,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  return Boolean(stream.isTTY) && !env.NO_COLOR;
}
