/**
 * The one-pass listing of who else listens on many ports, run for real on this machine against
 * the per-port guard it replaces for `toss status`: the same listeners, by port.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { foreignListenersOnceArgv } from '../../src/server/port-listeners.js';
import { foreignListenersArgv, parseForeignListenersByPort } from '../../src/server/port-owner.js';

let servers: Server[] = [];
let ports: number[] = [];
let free: number;

const listen = async (host: string) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return server;
};

const once = (checks: Array<{ port: number; unit: string }>) => {
  const { argv, stdin } = foreignListenersOnceArgv(checks);
  const [cmd, ...args] = argv as [string, ...string[]];
  return spawnSync(cmd, args, { encoding: 'utf8', input: stdin });
};

const perPort = (checks: Array<{ port: number; unit: string }>) => {
  const [cmd, ...args] = foreignListenersArgv(checks) as [string, ...string[]];
  return spawnSync(cmd, args, { encoding: 'utf8' });
};

const sorted = (byPort: Map<number, unknown[]>) =>
  [...byPort.entries()]
    .map(([port, list]) => [
      port,
      [...list].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ])
    .sort((a, b) => (a[0] as number) - (b[0] as number));

beforeAll(async () => {
  servers = [await listen('127.0.0.1'), await listen('127.0.0.1')];
  ports = servers.map((s) => (s.address() as { port: number }).port);
  const probe = await listen('127.0.0.1');
  free = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});
afterAll(() => {
  for (const server of servers) server.close();
});

describe('foreignListenersOnceArgv on this machine', () => {
  const unit = (port: number) => `toss-hello-pr-1@${port}.service`;

  it('names the process listening on each port asked about, and nothing for a free port', () => {
    const checks = [...ports, free].map((port) => ({ port, unit: unit(port) }));
    const result = once(checks);
    expect(result.status).toBe(0);
    const byPort = parseForeignListenersByPort(result.stdout);
    expect([...byPort.keys()].sort()).toEqual([...ports].sort());
    for (const port of ports) {
      expect(byPort.get(port)?.map((l) => l.pid)).toEqual([process.pid]);
      expect(byPort.get(port)?.[0]?.command).toBe('node');
      expect(byPort.get(port)?.[0]?.user).not.toBe('');
    }
  });

  it('says what the per-port guard says, a child sharing a socket included', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], {
      stdio: [
        'ignore',
        'ignore',
        'ignore',
        (servers[0] as unknown as { _handle: { fd: number } })._handle.fd,
      ],
    });
    await new Promise((r) => setTimeout(r, 200));
    try {
      const checks = [...ports, free].map((port) => ({ port, unit: unit(port) }));
      const onePass = parseForeignListenersByPort(once(checks).stdout);
      const guard = parseForeignListenersByPort(perPort(checks).stdout);
      expect(onePass.get(ports[0] as number)?.map((l) => l.pid)).toContain(child.pid);
      expect(sorted(onePass)).toEqual(sorted(guard));
    } finally {
      child.kill();
    }
  });

  it('asks nothing of ports it was not given', () => {
    const result = once([{ port: free, unit: unit(free) }]);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('');
  });

  it('refuses a unit name that is not a service', () => {
    expect(() => foreignListenersOnceArgv([{ port: 3000, unit: 'x; rm -rf /' }])).toThrow(
      /invalid unit name/,
    );
  });
});
