import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectEarly } from '../../src/cli/early-connect.js';
import type { Login } from '../../src/remote/login.js';

// A server that accepts and never answers: a login to it stays under way until given up.
let listener: Server;
let port: number;
const sockets: { socket: Socket; closed: Promise<void> }[] = [];
let dir: string;

beforeAll(async () => {
  listener = createServer((socket) => {
    socket.on('error', () => {});
    // Read (and drop) what the client sends, or its hang-up would never show here.
    socket.resume();
    sockets.push({ socket, closed: new Promise((r) => socket.on('close', () => r())) });
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  port = (listener.address() as { port: number }).port;
  dir = mkdtempSync(join(tmpdir(), 'toss-early-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
});

afterEach(() => {
  for (const { socket } of sockets.splice(0)) socket.destroy();
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((r) => listener.close(() => r()));
});

function login(): Login {
  return {
    host: '127.0.0.1',
    port,
    user: 'root',
    knownHosts: '',
    identityFile: join(dir, 'key'),
  };
}

async function connected(): Promise<{ socket: Socket; closed: Promise<void> }> {
  for (let i = 0; i < 200 && sockets.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(sockets.length).toBe(1);
  return sockets[0]!;
}

describe('connectEarly', () => {
  it('starts connecting at once; closed unused, a login still under way is given up', async () => {
    const early = connectEarly(login(), 'shop');
    const { closed } = await connected();
    // The server never answers: closing gives the login up at once instead of waiting it out.
    await early.close();
    await closed;
  });

  it('hands the connection to the connect step for the same login and app only', async () => {
    const early = connectEarly(login(), 'shop');
    await connected();
    const connect = await early.connect();
    // Another app (or login) gets a connection of its own, not this one.
    const other = connect(login(), 'other').catch((e: unknown) => e);
    for (let i = 0; i < 200 && sockets.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(sockets.length).toBe(2);
    await early.close();
    await sockets[0]!.closed;
    for (const { socket } of sockets) socket.destroy();
    expect(await other).toBeInstanceOf(Error);
  });
});
