import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configAsWritten } from '../../src/cli/config-as-written.js';
import {
  connectBeforeChecks,
  connectEarly,
  withLoginFromConfigFile,
} from '../../src/cli/early-connect.js';
import { loginFrom, resolveServer } from '../../src/cli/login.js';
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

// A real SSH server (ssh2's, in this process) that records each authentication attempt.
describe('authentication held back until the checks passed', () => {
  let sshServer: import('ssh2').Server;
  let sshPort: number;
  let knownHosts: string;
  const seen: { connections: number; methods: string[] } = { connections: 0, methods: [] };

  beforeAll(async () => {
    const { Server: SshServer, utils } = await import('ssh2');
    const hostKey = utils.generateKeyPairSync('ed25519');
    sshServer = new SshServer({ hostKeys: [hostKey.private] }, (client) => {
      seen.connections++;
      client.on('error', () => {});
      client.on('authentication', (ctx) => {
        seen.methods.push(ctx.method);
        if (ctx.method === 'publickey') ctx.accept();
        else ctx.reject(['publickey']);
      });
      // Sessions (the runners toss warms) are refused: only the login matters here.
      client.on('session', (_accept, reject) => reject());
    });
    await new Promise<void>((r) => sshServer.listen(0, '127.0.0.1', () => r()));
    sshPort = (sshServer.address() as { port: number }).port;
    knownHosts = `[127.0.0.1]:${sshPort} ${hostKey.public}\n`;
  });

  afterAll(async () => {
    await new Promise<void>((r) => sshServer.close(() => r()));
  });

  const sshLogin = (): Login => ({
    host: '127.0.0.1',
    port: sshPort,
    user: 'root',
    knownHosts,
    identityFile: join(dir, 'key'),
  });

  async function until(what: () => boolean): Promise<void> {
    for (let i = 0; i < 300 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
  }

  it('connects and checks the host key at once, but offers no key before the gate opens', async () => {
    seen.connections = 0;
    seen.methods = [];
    let open: () => void = () => {};
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const early = connectEarly(sshLogin(), 'shop', gate);
    await until(() => seen.connections === 1);
    // Time for a whole handshake on loopback, and then some: still no authentication.
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.methods).toEqual([]);
    open();
    await until(() => seen.methods.includes('publickey'));
    // The key straight away (its query, then the signed request): no `none` round trip first.
    expect(new Set(seen.methods)).toEqual(new Set(['publickey']));
    await early.close();
  });

  it('never authenticates when the checks fail and the connection is closed', async () => {
    seen.connections = 0;
    seen.methods = [];
    const early = connectEarly(sshLogin(), 'shop', new Promise<void>(() => {}));
    await until(() => seen.connections === 1);
    await new Promise((r) => setTimeout(r, 200));
    await early.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.methods).toEqual([]);
  });

  it('starts from toss.json as written (not at all unless JSON with app and server); authenticates only for the login the checked config makes', async () => {
    const config = join(dir, 'toss.json');
    const env = { TOSS_KNOWN_HOSTS: process.env.TOSS_KNOWN_HOSTS, HOME: process.env.HOME };
    writeFileSync(join(dir, 'known_hosts'), knownHosts);
    process.env.TOSS_KNOWN_HOSTS = join(dir, 'known_hosts');
    process.env.HOME = dir;
    try {
      seen.connections = 0;
      seen.methods = [];
      writeFileSync(config, '{ "app": "shop", "server": ');
      const broken = connectBeforeChecks(configAsWritten(config), join(dir, 'key'));
      await new Promise((r) => setTimeout(r, 200));
      expect(seen.connections).toBe(0);
      await broken.close();

      // Saved with a byte-order mark, as editors on Windows may.
      writeFileSync(
        config,
        `\uFEFF${JSON.stringify({ app: 'shop', server: `root@127.0.0.1:${sshPort}` })}`,
      );
      const early = connectBeforeChecks(configAsWritten(config), join(dir, 'key'));
      await until(() => seen.connections === 1);
      await new Promise((r) => setTimeout(r, 200));
      expect(seen.methods).toEqual([]);
      // Checked, the config logs in elsewhere: this connection goes without authenticating.
      const elsewhere = connectBeforeChecks(configAsWritten(config), join(dir, 'key'));
      await until(() => seen.connections === 2);
      // What the CLI's loadContext resolves from the checked config, the same way.
      const checked = loginFrom(await resolveServer(`root@127.0.0.1:${sshPort}`, join(dir, 'key')));
      elsewhere.proceed({ ...checked, user: 'deploy' }, 'shop');
      await new Promise((r) => setTimeout(r, 200));
      expect(seen.methods).toEqual([]);
      await elsewhere.close();
      early.proceed(checked, 'shop');
      await until(() => seen.methods.includes('publickey'));
      expect(new Set(seen.methods)).toEqual(new Set(['publickey']));
      await early.close();
    } finally {
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('withLoginFromConfigFile (list, status, remove, rollback)', () => {
  it('starts from the toss.json the command names before it runs; closes what it did not take', async () => {
    const config = join(dir, 'day-two.json');
    writeFileSync(config, JSON.stringify({ app: 'shop', server: `root@127.0.0.1:${port}` }));
    const env = { TOSS_KNOWN_HOSTS: process.env.TOSS_KNOWN_HOSTS, HOME: process.env.HOME };
    process.env.HOME = dir;
    try {
      const ran = await withLoginFromConfigFile(
        { config, identity: join(dir, 'key') },
        async () => {
          // Under way before the command has loaded or checked anything.
          await connected();
          return 'ran';
        },
      );
      expect(ran).toBe('ran');
      // The command never took it: closed, without authenticating.
      await sockets[0]!.closed;
      // No such file: nothing starts, and the command's connect is a login of its own.
      await withLoginFromConfigFile({ config: join(dir, 'missing.json') }, async (started) => {
        await new Promise((r) => setTimeout(r, 100));
        expect(sockets.length).toBe(1);
        expect(typeof (await started.connectAs(login(), 'shop'))).toBe('function');
      });
    } finally {
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

// The TCP connection is opened before ssh2 loads (dial.ts) and the handshake runs on it.
describe('the dialled connection', () => {
  it('carries the login itself: one TCP connection, not a second one beside it', async () => {
    const early = connectEarly(login(), 'shop');
    await connected();
    await new Promise((r) => setTimeout(r, 300));
    expect(sockets.length).toBe(1);
    await early.close();
  });

  it('a refused connection fails the login with the message a login without it gets', async () => {
    // A port nothing listens on: the one the listener had before it closed.
    const idle = createServer();
    await new Promise<void>((r) => idle.listen(0, '127.0.0.1', () => r()));
    const closedPort = (idle.address() as { port: number }).port;
    await new Promise<void>((r) => idle.close(() => r()));
    const to = { ...login(), port: closedPort };
    const { connectLogin } = await import('../../src/remote/login.js');
    const { dial } = await import('../../src/remote/dial.js');
    const plain = (await connectLogin(to).catch((e: unknown) => e)) as Error;
    const dialled = dial(to.host, to.port);
    // Refused before the connection takes it (the usual case on a LAN) ...
    await new Promise((r) => setTimeout(r, 100));
    const early = (await connectLogin(to, { dialled }).catch((e: unknown) => e)) as Error;
    expect(plain).toBeInstanceOf(Error);
    expect(early).toBeInstanceOf(Error);
    expect(early.message).toBe(plain.message);
    expect(early.constructor).toBe(plain.constructor);
    // ... and while it is taken.
    const late = (await connectLogin(to, { dialled: dial(to.host, to.port) }).catch(
      (e: unknown) => e,
    )) as Error;
    expect(late.message).toBe(plain.message);
  });

  it('is closed when the login is given up before the connection took it', async () => {
    const { dial } = await import('../../src/remote/dial.js');
    const abort = new AbortController();
    const dialled = dial('127.0.0.1', port, abort.signal);
    const { closed } = await connected();
    abort.abort();
    await closed;
    expect(dialled.take()).toBeUndefined();
  });
});
