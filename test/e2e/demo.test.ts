/**
 * `npm run demo -- --no-wait`, the README's first command: boots its own host, deploys
 * examples/hello to production and pr-1 with the CLI bundle, prints both URLs with a verified
 * HTTPS fetch of each, tears down and exits 0.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

function runDemo(): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        join(ROOT, 'node_modules/tsx/dist/loader.mjs'),
        join(ROOT, 'scripts/demo.ts'),
        '--no-wait',
      ],
      { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c;
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, output }));
  });
}

it('npm run demo -- --no-wait deploys production and pr-1 and shows both over HTTPS', async () => {
  const { code, output } = await runDemo();
  expect(code, output).toBe(0);
  for (const env of ['production', 'pr-1']) {
    const url = new RegExp(`https://${env}\\.hello\\.10-213-\\d+-2\\.sslip\\.io/`);
    expect(output, output).toMatch(url);
    expect(output).toMatch(new RegExp(`${env}\\s+${url.source}\\s+→\\s+200 "Hello from toss!"`));
  }
  expect(output).toContain('curl --cacert ');
  expect(output).toContain('Tearing down the server');
}, 180_000);
