/**
 * The TCP connection to the SSH port, opened before ssh2 has loaded (ssh2 and node-ssh take
 * ~80 ms to load, about what sshd takes to fork and send its banner): the handshake then starts
 * on a socket that is already connected, or nearly. Nothing is sent on it here; the SSH
 * connection (connection.ts) takes it as ssh2's `sock` and does everything else, timeouts and
 * errors included.
 */
import { Socket } from 'node:net';

export interface Dialled {
  host: string;
  port: number;
  /**
   * The socket, once, if it has not failed (ssh2 then reports the failure of a connection of its
   * own, with the usual message); undefined otherwise, and the socket is gone.
   */
  take(): Socket | undefined;
}

/** Starts the TCP connection to `host`:`port`; gone at once when `signal` aborts before take(). */
export function dial(host: string, port: number, signal?: AbortSignal): Dialled {
  const socket = new Socket();
  let failed = false;
  let taken = false;
  // The error is left to the connection that takes the socket, or to the one made instead.
  socket.on('error', () => {
    failed = true;
  });
  // Many small request/response exchanges: Nagle + delayed ACKs would add ~40 ms to each.
  socket.setNoDelay(true);
  socket.connect({ host, port });
  signal?.addEventListener(
    'abort',
    () => {
      if (!taken) socket.destroy();
    },
    { once: true },
  );
  return {
    host,
    port,
    take() {
      if (taken) return undefined;
      taken = true;
      if (!failed && !socket.destroyed) return socket;
      socket.destroy();
      return undefined;
    },
  };
}
