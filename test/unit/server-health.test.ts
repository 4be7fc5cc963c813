import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthCheckArgv, siteCheckArgv } from '../../src/server/health.js';

describe('health check builders', () => {
  it('checks a path over HTTP, values as arguments', () => {
    const argv = healthCheckArgv({ port: 3001, path: '/up?x=[1]', timeoutSec: 30 });
    expect(argv[0]).toBe('bash');
    expect(argv.slice(3)).toEqual(['bash', '3001', '/up?x=[1]', '30']);
    expect(argv[2]).toContain('--globoff');
  });

  it('connects over TCP without a path, bounded by timeout(1) as a whole', () => {
    const argv = healthCheckArgv({ port: 3001, timeoutSec: 5 });
    expect(argv.slice(0, 3)).toEqual(['timeout', '7', 'bash']);
    expect(argv.slice(5)).toEqual(['bash', '3001', '5']);
  });

  it.each([
    [{ port: 3001, path: 'up', timeoutSec: 5 }],
    [{ port: 3001, path: '/a b', timeoutSec: 5 }],
    [{ port: 3001, path: '/a\n', timeoutSec: 5 }],
    [{ port: 0, timeoutSec: 5 }],
    [{ port: 3001, timeoutSec: 0 }],
  ])('refuses %j', (params) => {
    expect(() => healthCheckArgv(params)).toThrow();
  });

  it('asks Caddy for the site', () => {
    expect(siteCheckArgv({ hostName: 'pr-1.a.com', tls: 'auto', timeoutSec: 60 }).slice(3)).toEqual(
      ['sh', 'https', 'pr-1.a.com', '60', 'no'],
    );
    expect(siteCheckArgv({ hostName: 'a.com', tls: 'internal', timeoutSec: 5 }).slice(4)).toEqual([
      'https',
      'a.com',
      '5',
      'yes',
    ]);
    expect(siteCheckArgv({ hostName: 'a.com', tls: 'off', timeoutSec: 5 })[4]).toBe('http');
    expect(() => siteCheckArgv({ hostName: 'a.com/x', tls: 'off', timeoutSec: 5 })).toThrow();
  });
});

const tools = ['curl', 'bash', 'timeout'].every(
  (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0,
);

describe.skipIf(!tools)('health checks against a local server', () => {
  let server: Server;
  let port: number;
  let requests = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      // /slow becomes healthy from the third request on.
      if (req.url === '/up' || (req.url === '/slow' && requests >= 3)) res.writeHead(200);
      else if (req.url === '/moved') res.writeHead(302, { location: '/up' });
      else res.writeHead(503);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  // Async: the server answers from this same process.
  const check = (argv: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(argv[0] as string, argv.slice(1));
      let stderr = '';
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      child.on('close', (code) => resolve({ code, stderr }));
    });

  it.each([
    ['/up', 0],
    ['/moved', 0],
  ])('passes on %s', async (path, code) => {
    expect((await check(healthCheckArgv({ port, path, timeoutSec: 2 }))).code).toBe(code);
  });

  it('retries until the app is up', async () => {
    requests = 0;
    expect((await check(healthCheckArgv({ port, path: '/slow', timeoutSec: 10 }))).code).toBe(0);
    expect(requests).toBeGreaterThanOrEqual(3);
  });

  it('fails after the timeout with the last error', async () => {
    const result = await check(healthCheckArgv({ port, path: '/down', timeoutSec: 1 }));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `http://127.0.0.1:${port}/down did not answer with 2xx or 3xx within 1 s`,
    );
    expect(result.stderr).toContain('503');
  });

  it('connects over TCP', async () => {
    expect((await check(healthCheckArgv({ port, timeoutSec: 2 }))).code).toBe(0);
  });

  it('says why when its bound stops a TCP check (a connect that never completes)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const free = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const argv = healthCheckArgv({ port: free, timeoutSec: 30 });
    // timeout(1) passes its TERM on to the check, as when its bound runs out.
    const child = spawn(argv[0] as string, argv.slice(1));
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).not.toBe(0);
    expect(stderr).toContain(`nothing accepted a connection on 127.0.0.1:${free} within 30 s`);
  });

  it('fails over TCP when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const free = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await check(healthCheckArgv({ port: free, timeoutSec: 1 }));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `nothing accepted a connection on 127.0.0.1:${free} within 1 s`,
    );
  });
});
