/**
 * The drain that stops an old instance once its port is quiet, run for real on this machine:
 * bash, ss and a listening socket of this test, with a systemctl on PATH that only says what it
 * was asked. The command line is read back the way systemd reads it ($$ is one $).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRAIN_QUIET_MS, retireInstanceArgv } from '../../src/server/instances.js';
import { envPaths } from '../../src/server/paths.js';

const paths = envPaths('shop', 'production');

/** The drain of the old instance on `port`, as retireInstanceArgv hands it to systemd-run. */
function drainArgv(port: number): string[] {
  const argv = retireInstanceArgv(paths, { port: 3000, sleeps: false }, port, 5);
  return argv.slice(argv.indexOf('--') + 1);
}

const tools = ['bash', 'ss'].every(
  (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0,
);

describe('the drain command line', () => {
  it('doubles every $, so systemd substitutes none of the script', () => {
    for (const word of drainArgv(3001)) {
      expect(word.replaceAll('$$', '')).not.toContain('$');
    }
    expect(drainArgv(3001).slice(0, 2)).toEqual(['bash', '-c']);
  });
});

describe.skipIf(!tools)('the drain on this machine', () => {
  let server: Server;
  let port: number;
  let bin: string;

  beforeAll(async () => {
    server = createServer(() => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    bin = mkdtempSync(join(tmpdir(), 'toss-drain-'));
    writeFileSync(join(bin, 'systemctl'), '#!/bin/sh\necho "systemctl $*"\n');
    chmodSync(join(bin, 'systemctl'), 0o755);
  });
  afterAll(() => {
    server?.close();
    if (bin) rmSync(bin, { recursive: true, force: true });
  });

  // What systemd runs: each $$ one $ again.
  const run = () =>
    new Promise<{ output: string; ms: number }>((resolve) => {
      const [command, ...args] = drainArgv(port).map((word) => word.replaceAll('$$', '$'));
      const started = performance.now();
      const child = spawn(command as string, args, {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });
      let output = '';
      child.stdout.on('data', (chunk) => {
        output += chunk;
      });
      child.stderr.on('data', (chunk) => {
        output += chunk;
      });
      child.on('close', () => resolve({ output, ms: performance.now() - started }));
    });

  it('stops the old instance and its wake units once the port was quiet for the quiet time', async () => {
    const { output, ms } = await run();
    expect(output).toMatch(new RegExp(`no request left on port ${port} after \\d+ ms`));
    expect(output).toContain(
      `systemctl stop -- toss-wake-shop-production@${port}.service toss-wake-shop-production@${port}.socket`,
    );
    expect(output).toContain(`systemctl stop -- toss-shop-production@${port}.service`);
    expect(ms).toBeGreaterThanOrEqual(DRAIN_QUIET_MS);
    expect(ms).toBeLessThan(4000);
  });

  it('waits while a connection is open, and stops once it closed', async () => {
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.on('connect', resolve));
    setTimeout(() => socket.destroy(), 1200);
    const { output, ms } = await run();
    expect(output).toContain(`stopping toss-shop-production@${port}.service`);
    // The connection was last seen up to one poll (0.1 s) before it closed.
    expect(ms).toBeGreaterThanOrEqual(1200 - 200 + DRAIN_QUIET_MS);
    expect(ms).toBeLessThan(5000);
  });
});
