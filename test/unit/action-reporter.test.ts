/**
 * The action's log: streamed build output sits between ::stop-commands:: and its resume token, so
 * the runner obeys none of its lines, while the action's own commands (masks, groups, notices)
 * stay outside every fence. Secret values are masked whole and line by line.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { actionReporter, maskPieces, resumeCommands } from '../../src/action/reporter.js';

let written = '';
beforeEach(() => {
  written = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written += String(chunk);
    return true;
  });
});
afterEach(() => {
  resumeCommands();
  vi.restoreAllMocks();
});

/** Each log line with whether the runner would obey it as a workflow command, as it reads them. */
function asRunner(log: string): { line: string; obeyed: boolean }[] {
  let token: string | undefined;
  const out: { line: string; obeyed: boolean }[] = [];
  for (const line of log.split(/\r\n|\r|\n/)) {
    if (token !== undefined) {
      if (line === `::${token}::`) token = undefined;
      out.push({ line, obeyed: false });
      continue;
    }
    const stop = /^::stop-commands::(.+)$/.exec(line);
    if (stop) token = stop[1];
    out.push({ line, obeyed: line.startsWith('::') });
  }
  return out;
}

describe('maskPieces', () => {
  it.each([
    ['one line', ['s3cr3t'], ['s3cr3t']],
    [
      'each line of a multi-line value, trimmed',
      ['a1\n  b2  \r\nc3\n'],
      ['a1\n  b2  \r\nc3\n', 'a1', 'b2', 'c3'],
    ],
    ['nothing empty or blank', ['', '  ', '\n\n', 'x\n\n'], ['x\n\n', 'x']],
    ['each piece once', ['k', 'k\nk'], ['k', 'k\nk']],
  ] as [string, string[], string[]][])('%s', (_, values, pieces) => {
    expect(maskPieces(values)).toEqual(pieces);
  });
});

describe('actionReporter', () => {
  it('fences build output and keeps its own commands outside the fence', () => {
    const reporter = actionReporter();
    reporter.sink({ type: 'secrets', values: ['first\nsecond'] });
    reporter.sink({ type: 'step-start', step: 'deploy-script' });
    for (const line of ['::add-mask::x', '::error::boom', '::stop-commands::t', '::warning::w'])
      reporter.sink({ type: 'output', step: 'deploy-script', line });
    reporter.sink({ type: 'notice', message: 'a notice' });
    reporter.sink({ type: 'output', step: 'deploy-script', line: '::error::again' });
    reporter.sink({ type: 'step-done', step: 'deploy-script', ms: 1200 });
    reporter.sink({ type: 'step-start', step: 'health' });
    reporter.sink({ type: 'output', step: 'health', line: 'last words\r::error::cr' });
    resumeCommands();

    const lines = asRunner(written);
    const obeyed = lines.filter((l) => l.obeyed).map((l) => l.line);
    expect(obeyed.filter((l) => !l.startsWith('::stop-commands::'))).toEqual([
      '::add-mask::first%0Asecond',
      '::add-mask::first',
      '::add-mask::second',
      '::group::Run deployScript',
      '::notice::a notice',
      '::endgroup::',
      '::group::Health check',
    ]);
    // Every build line is shown, none is obeyed.
    for (const text of ['::add-mask::x', '::error::boom', '::stop-commands::t', '::warning::w']) {
      expect(lines).toContainEqual({ line: text, obeyed: false });
    }
    expect(lines).toContainEqual({ line: '::error::cr', obeyed: false });
    // A fresh, unguessable token for each fence, and every fence is closed.
    const tokens = obeyed
      .filter((l) => l.startsWith('::stop-commands::'))
      .map((l) => l.slice('::stop-commands::'.length));
    expect(tokens).toHaveLength(3);
    for (const token of tokens) expect(token).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(tokens).size).toBe(3);
    for (const token of tokens) expect(written).toContain(`\n::${token}::\n`);
  });

  it('names the server of each line when production runs on several, in no group, output fenced', () => {
    const reporter = actionReporter();
    reporter.sink({ type: 'step-start', step: 'connect' });
    reporter.sink({ type: 'step-start', step: 'deploy-script', server: 'root@web1' });
    reporter.sink({ type: 'step-start', step: 'deploy-script', server: 'root@web2' });
    reporter.sink({
      type: 'output',
      step: 'deploy-script',
      line: '::error::b',
      server: 'root@web2',
    });
    reporter.sink({ type: 'step-done', step: 'deploy-script', ms: 1200, server: 'root@web1' });
    reporter.sink({ type: 'warning', message: 'slow', server: 'root@web2' });
    reporter.sink({ type: 'step-fail', step: 'health', ms: 10, error: 'x', server: 'root@web2' });
    resumeCommands();
    const lines = asRunner(written);
    expect(
      lines.filter((l) => l.obeyed && !l.line.startsWith('::stop')).map((l) => l.line),
    ).toEqual(['::group::Connect', '::endgroup::', '::warning::[root@web2] slow']);
    expect(lines).toContainEqual({ line: '[root@web2] ::error::b', obeyed: false });
    expect(lines).toContainEqual({
      line: '[root@web1] Run deployScript done in 1.2 s',
      obeyed: false,
    });
    expect(lines).toContainEqual({ line: '[root@web2] Health check failed', obeyed: false });
    expect(reporter.failedStep()).toBe('health');
  });

  it('resumes commands for a failure annotation after output', () => {
    const reporter = actionReporter();
    reporter.sink({ type: 'output', step: 'deploy-script', line: 'npm ERR!' });
    resumeCommands();
    process.stdout.write('::error::deploy failed\n');
    expect(asRunner(written).at(-2)).toEqual({ line: '::error::deploy failed', obeyed: true });
  });
});
