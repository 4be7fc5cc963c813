/**
 * The port guard's scripts, run for real on this machine: a process of this test listens on a
 * port, and the guard must name it as foreign to the unit that alone may listen there.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeListener,
  foreignListenersArgv,
  PORT_NOT_OURS_EXIT,
  PORT_TAKEN_EXIT,
  parseForeignListeners,
  parseForeignListenersByPort,
  portGuardArgv,
} from '../../src/server/port-owner.js';

const UNIT = 'toss-hello-production@3000.service';
let server: Server;
let port: number;
let free: number;

const run = (argv: string[]) => {
  const [cmd, ...args] = argv as [string, ...string[]];
  return spawnSync(cmd, args, { encoding: 'utf8' });
};

beforeAll(async () => {
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  // A port nothing listens on: one that was just free.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  free = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});
afterAll(() => {
  server?.close();
});

describe('portGuardArgv on this machine', () => {
  const ss = spawnSync('ss', ['-V']).status === 0;

  it('finds ss (iproute2), which the guard needs', () => {
    expect(ss).toBe(true);
  });

  it('names the process that listens on a port it does not own', () => {
    const result = run(portGuardArgv('free', port, UNIT));
    expect(result.status).toBe(PORT_TAKEN_EXIT);
    const [listener] = parseForeignListeners(result.stderr);
    expect(listener?.pid).toBe(process.pid);
    expect(listener?.command).toBe('node');
    expect(describeListener(listener!)).toMatch(
      new RegExp(`^pid ${process.pid} \\(node\\) of user \\S+`),
    );
  });

  it('passes a free port, and refuses it when something must listen there', () => {
    expect(run(portGuardArgv('free', free, UNIT)).status).toBe(0);
    expect(run(portGuardArgv('owned', free, UNIT)).status).toBe(PORT_NOT_OURS_EXIT);
  });

  it('lists foreign listeners by port for status', () => {
    const result = run(
      foreignListenersArgv([
        { port, unit: UNIT },
        { port: free, unit: 'toss-hello-production@3001.service' },
      ]),
    );
    expect(result.status).toBe(0);
    const byPort = parseForeignListenersByPort(result.stdout);
    expect([...byPort.keys()]).toEqual([port]);
    expect(byPort.get(port)?.[0]?.pid).toBe(process.pid);
  });

  it('a child that inherits the listening socket is named too', async () => {
    // Listeners shared by several processes (a forked worker) are each checked.
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], {
      stdio: [
        'ignore',
        'ignore',
        'ignore',
        (server as unknown as { _handle: { fd: number } })._handle.fd,
      ],
    });
    await new Promise((r) => setTimeout(r, 200));
    try {
      const result = run(portGuardArgv('free', port, UNIT));
      const pids = parseForeignListeners(result.stderr).map((l) => l.pid);
      expect(pids).toContain(process.pid);
      expect(pids).toContain(child.pid);
    } finally {
      child.kill();
    }
  });
});

describe('parsing', () => {
  it('reads a socket without a process', () => {
    expect(parseForeignListeners('foreign -\t-\t-\t-\n')).toEqual([
      { pid: undefined, user: '', unit: '', command: '' },
    ]);
    expect(describeListener({ pid: undefined, user: '', unit: '', command: '' })).toBe(
      'a socket whose process could not be found',
    );
  });

  it('refuses a unit name that is not one', () => {
    expect(() => portGuardArgv('free', 3000, 'x; rm -rf /')).toThrow(/invalid unit/);
    expect(() => portGuardArgv('free', 70000, UNIT)).toThrow(/invalid port/);
  });
});
