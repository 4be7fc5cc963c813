import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { node24 } from '../support/node24.js';

const run = promisify(execFile);
const cli = 'dist/cli/index.js';

describe('the bundled CLI', () => {
  it.each([
    ['this machine', process.execPath],
    ['Node 24', 'node24'],
  ])(
    'prints --help under %s',
    async (_label, which) => {
      const node = which === 'node24' ? node24() : which;
      expect(existsSync(node), node).toBe(true);
      const { stdout: version } = await run(node, ['--version']);
      const { stdout } = await run(node, [cli, '--help']);
      expect(stdout).toContain('Usage: toss');
      expect(stdout).toContain('Examples:');
      expect(version).toMatch(/^v\d+\./);
    },
    120_000,
  );

  it('runs under Node 24 as the runner has it', async () => {
    const { stdout } = await run(node24(), ['--version']);
    expect(stdout.trim()).toBe('v24.21.0');
  }, 120_000);

  it('exits 2 on an unknown flag and suggests help', async () => {
    const failure = await run(process.execPath, [cli, '--bogus']).catch((e) => e);
    expect(failure.code).toBe(2);
    expect(failure.stderr).toContain("unknown option '--bogus'");
  });
});
