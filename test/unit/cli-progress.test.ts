import { describe, expect, it } from 'vitest';
import { progressPrinter, useColor } from '../../src/cli/progress.js';
import type { PipelineEvent } from '../../src/pipeline/events.js';

function render(tty: boolean, color: boolean, events: PipelineEvent[]): string {
  let out = '';
  const print = progressPrinter({ tty, color, write: (t) => (out += t) });
  for (const e of events) print(e);
  return out;
}

const run: PipelineEvent[] = [
  { type: 'step-start', step: 'upload' },
  { type: 'step-done', step: 'upload', ms: 1234, detail: '12 files' },
  { type: 'step-start', step: 'deploy-script' },
  { type: 'output', step: 'deploy-script', line: 'built' },
  { type: 'step-fail', step: 'deploy-script', ms: 50 },
  { type: 'warning', message: 'careful' },
] as PipelineEvent[];

describe('progress', () => {
  it('prints plain prefixed lines off a terminal', () => {
    expect(render(false, false, run)).toBe(
      [
        'toss: Upload files…',
        'toss: Upload files done in 1.2s (12 files)',
        'toss: Run deployScript…',
        '  built',
        'toss: Run deployScript failed after 0.1s',
        'warning: careful',
        '',
      ].join('\n'),
    );
  });

  it('prints one line per step with its duration on a terminal', () => {
    expect(render(true, false, run)).toBe(
      [
        '✓ Upload files 1.2s 12 files',
        '  │ built',
        '✗ Run deployScript 0.1s',
        'warning: careful',
        '',
      ].join('\n'),
    );
  });

  it('colours only a TTY without NO_COLOR', () => {
    const tty = { isTTY: true } as NodeJS.WriteStream;
    expect(useColor(tty, {})).toBe(true);
    expect(useColor(tty, { NO_COLOR: '1' })).toBe(false);
    expect(useColor({ isTTY: false } as NodeJS.WriteStream, {})).toBe(false);
    expect(render(true, true, run)).toContain('\x1b[32m✓\x1b[0m');
  });
});
