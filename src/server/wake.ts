/**
 * Sleeping environments. Caddy proxies to a Unix socket systemd listens on (one per instance
 * port); the first connection starts a proxy service that starts the instance, waits until it
 * listens, then forwards every connection to it, and exits once no connection has come for the
 * idle time, which stops the instance.
 */
import { assertPort } from './paths.js';

/** Where the sockets Caddy reaches sleeping environments through live. */
export const WAKE_SOCKET_DIR = '/run/toss-wake';

/** The socket for the instance on `port` (ports are unique on a server, so the path is too). */
export function wakeSocketPath(port: number): string {
  return `${WAKE_SOCKET_DIR}/${assertPort(port)}.sock`;
}
