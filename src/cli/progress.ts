import { type PipelineEvent, STEP_LABELS } from '../pipeline/events.js';

export interface ProgressOptions {
  tty: boolean;
  color: boolean;
  write: (text: string) => void;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

type Paint = (code: string, text: string) => string;

/** Renders pipeline events: one line per step with its duration on a TTY, plain prefixed lines elsewhere. */
export function progressPrinter(options: ProgressOptions): (event: PipelineEvent) => void {
  const paint: Paint = (code, text) => (options.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  return (event) => {
    const text = render(event, options.tty, paint);
    if (text === undefined) return;
    // Production on several servers: each line says whose it is.
    options.write(
      event.server === undefined ? text : `${paint('35', `[${event.server}]`)} ${text}`,
    );
  };
}

/** The text an event prints, or undefined when it prints nothing. */
function render(event: PipelineEvent, tty: boolean, paint: Paint): string | undefined {
  switch (event.type) {
    case 'step-start':
      return tty ? undefined : `toss: ${STEP_LABELS[event.step]}…\n`;
    case 'step-done':
      return stepDone(event, tty, paint);
    case 'step-fail':
      return tty
        ? `${paint('31', '✗')} ${STEP_LABELS[event.step]} ${paint('2', seconds(event.ms))}\n`
        : `toss: ${STEP_LABELS[event.step]} failed after ${seconds(event.ms)}\n`;
    case 'output':
      return tty ? `  ${paint('2', '│')} ${event.line}\n` : `  ${event.line}\n`;
    case 'notice':
      return `${paint('36', 'notice:')} ${event.message}\n`;
    case 'warning':
      return `${paint('33', 'warning:')} ${event.message}\n`;
    case 'secrets':
      // A terminal is the user's own: nothing to mask.
      return undefined;
  }
}

function stepDone(
  event: Extract<PipelineEvent, { type: 'step-done' }>,
  tty: boolean,
  paint: Paint,
): string {
  const label = STEP_LABELS[event.step];
  if (!tty) {
    return `toss: ${label} done in ${seconds(event.ms)}${event.detail ? ` (${event.detail})` : ''}\n`;
  }
  const detail = event.detail ? ` ${paint('2', event.detail)}` : '';
  return `${paint('32', '✓')} ${label} ${paint('2', seconds(event.ms))}${detail}\n`;
}

/** Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function useColor(
  stream: NodeJS.WriteStream,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  return Boolean(stream.isTTY) && !env.NO_COLOR;
}

/** The printer every command that runs pipeline steps uses: on stdout, in color on a terminal. */
export function cliPrinter(): (event: PipelineEvent) => void {
  return progressPrinter({
    tty: Boolean(process.stdout.isTTY),
    color: useColor(process.stdout),
    write: (text) => process.stdout.write(text),
  });
}
