/**
 * A network round trip for the deploys bench (TOSS_BENCH_RTT_MS): a TCP proxy on this machine in
 * front of the test host's sshd that holds every chunk half the round trip, each way. The test
 * host is a few microseconds away; a real server is tens of milliseconds, and what a deploy costs
 * then is mostly how many round trips it waits for. toss and the floor both reach the host through
 * it, so their ratio is what a user far from the server sees. (The kernel's `tc netem` would do
 * this below TCP, but not every kernel has it.)
 */
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { TestHost } from '../test/e2e/harness/types.js';

export interface SlowLink {
  /** where to connect instead of the host's sshd */
  ip: string;
  port: number;
  /** known_hosts naming the host's keys at `[ip]:port` */
  knownHostsPath: string;
  rttMs: number;
  close(): Promise<void>;
}

/** The round trip TOSS_BENCH_RTT_MS asks for, in ms; 0 without it. */
export function rttFromEnv(): number {
  const text = process.env.TOSS_BENCH_RTT_MS;
  if (text === undefined || text === '') return 0;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 0 || ms > 1000) {
    throw new Error(`TOSS_BENCH_RTT_MS: expected whole milliseconds from 0 to 1000, got ${text}`);
  }
  return ms;
}

/** Starts the proxy to `host`'s sshd; `dir` gets its known_hosts file. */
export async function slowLinkTo(host: TestHost, rttMs: number, dir: string): Promise<SlowLink> {
  const oneWay = rttMs / 2;
  const sockets = new Set<Socket>();
  // Chunks keep their order: each waits the same time, and timers of equal delay fire in order.
  const relay = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => {
      setTimeout(() => to.write(chunk), oneWay);
    });
    from.on('end', () => setTimeout(() => to.end(), oneWay));
    from.on('error', () => to.destroy());
    from.on('close', () => setTimeout(() => to.destroy(), oneWay + 1));
  };
  const server = createServer((client) => {
    const upstream = connect(host.port, host.ip);
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy: no port');
  const knownHostsPath = join(dir, 'known_hosts');
  writeFileSync(
    knownHostsPath,
    `${host.knownHostsLines.map((line) => line.replace(/^\S+/, `[127.0.0.1]:${address.port}`)).join('\n')}\n`,
  );
  return {
    ip: '127.0.0.1',
    port: address.port,
    knownHostsPath,
    rttMs,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
