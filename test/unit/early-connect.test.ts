import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../../src/cli/context.js';
import { connectEarly } from '../../src/cli/early-connect.js';
import { parseConfig } from '../../src/config/load.js';

// A server that accepts and never answers: a login to it stays under way until given up.
let listener: Server;
let port: number;
const sockets: { socket: Socket; closed: Promise<void> }[] = [];
let dir: string;
const savedEnv = { ...process.env };

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
  writeFileSync(join(dir, 'known_hosts'), '');
  process.env.HOME = dir;
  process.env.TOSS_SSH_KEY = join(dir, 'key');
  process.env.TOSS_KNOWN_HOSTS = join(dir, 'known_hosts');
  delete process.env.SSH_AUTH_SOCK;
});

afterEach(() => {
  for (const { socket } of sockets.splice(0)) socket.destroy();
});

afterAll(async () => {
  process.env = savedEnv;
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((r) => listener.close(() => r()));
});

function tossJson(fields: Record<string, unknown>): string {
  const path = join(dir, `toss-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(fields));
  return path;
}

const config = (server: string) =>
  parseConfig({ app: 'shop', server, startCommand: 'node server.js' });

async function connected(): Promise<{ socket: Socket; closed: Promise<void> }> {
  for (let i = 0; i < 200 && sockets.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(sockets.length).toBe(1);
  return sockets[0]!;
}

describe('connectEarly', () => {
  it("connects to toss.json's server as written, before the config is checked", async () => {
    const path = tossJson({ app: 'shop', server: `root@127.0.0.1:${port}` });
    const early = connectEarly(path, undefined);
    await early.started;
    const { closed } = await connected();
    // The server never answers: closing gives the login up at once instead of waiting it out.
    await early.close();
    await closed;
  });

  it('does not use a connection to another server than the checked config names, and closes it', async () => {
    const path = tossJson({ app: 'shop', server: `root@127.0.0.1:${port}` });
    const early = connectEarly(path, undefined);
    await early.started;
    const { closed } = await connected();
    const context = {
      config: config('root@127.0.0.2'),
      configPath: path,
      projectDir: dir,
      login: { host: '127.0.0.2', port: 22, user: 'root', knownHosts: '' },
      actor: { name: 'me', kind: 'local' },
    } as unknown as CliContext;
    expect(await early.connectFor(context)).toBeUndefined();
    await closed;
    await early.close();
  });

  it('tries nothing for a toss.json that is not JSON or names no server', async () => {
    for (const text of ['{ not json', JSON.stringify({ app: 'shop' }), '[]']) {
      const path = join(dir, 'bad.json');
      writeFileSync(path, text);
      const early = connectEarly(path, undefined);
      await early.started;
      await early.close();
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(sockets).toEqual([]);
  });
});
