import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from '../errors.js';
import { formatValue } from './errors-format.js';

/** Where to SSH to, from `host`, `user@host:port`, `user@[2001:db8::1]:2222` or an alias. */
export interface ServerTarget {
  /** host name, IP address (IPv6 without brackets) or ~/.ssh/config alias */
  host: string;
  /** login user; `root` unless given */
  user: string;
  /** SSH port; 22 unless given */
  port: number;
  /** a bare name without dots, possibly a ~/.ssh/config `Host`: the SSH layer resolves it */
  isAlias: boolean;
  /** whether user / port were written, so a config alias's `User` / `Port` can win when not */
  userGiven: boolean;
  portGiven: boolean;
}

export const SERVER_EXPECTED =
  'an SSH target like "203.0.113.10", "deploy@myapp.com:2222", "root@[2001:db8::1]:22" or a ~/.ssh/config alias';

const MAX_LENGTH = 300;
// Debian's rule, loosened for dots and capitals that other systems allow; never starts with '-'.
const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
// Host name labels; '_' is allowed because ~/.ssh/config aliases use it.
const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
const PORT = /^[0-9]{1,5}$/;

/** Parses an SSH target; throws a ConfigError line `<field>: expected …, got "…"`. */
export function parseServer(server: string, field = 'server'): ServerTarget {
  const result = parse(server);
  if (typeof result === 'string') {
    throw new ConfigError([`${field}: ${result}, got ${formatValue(server)}`]);
  }
  return result;
}

/** What is wrong with an SSH target (`expected …`), or undefined when it parses. */
export function serverProblem(server: string): string | undefined {
  const result = parse(server);
  return typeof result === 'string' ? result : undefined;
}

function parse(server: string): ServerTarget | string {
  const problem = textProblem(server);
  if (problem) return problem;
  const login = splitUser(server);
  if (typeof login === 'string') return login;
  if (login.rest.length === 0) return 'expected a host after "@"';
  const address = splitHostPort(login.rest);
  if (typeof address === 'string') return address;
  const { host, portText } = address;
  const port = parsePort(portText);
  if (typeof port === 'string') return port;
  const isIp = isIPv4(host) || isIPv6(host);
  return {
    host,
    user: login.user,
    port,
    isAlias: !isIp && !host.includes('.'),
    userGiven: login.userGiven,
    portGiven: portText !== undefined,
  };
}

/** What is wrong with the target as a whole (length, spaces, a leading "-"), before it is split. */
function textProblem(server: string): string | undefined {
  if (server.length === 0 || server.length > MAX_LENGTH) return `expected ${SERVER_EXPECTED}`;
  if (/[\s\p{Cc}\p{Cf}]/u.test(server)) {
    return 'expected an SSH target without spaces or control characters';
  }
  // ssh would read a leading '-' as an option.
  if (server.startsWith('-')) return 'expected an SSH target that does not start with "-"';
  return undefined;
}

/** Splits off a `user@` prefix: the user (`root` unless given) and what follows it. */
function splitUser(server: string): { user: string; rest: string; userGiven: boolean } | string {
  const at = server.indexOf('@');
  if (at === -1) return { user: 'root', rest: server, userGiven: false };
  const user = server.slice(0, at);
  const rest = server.slice(at + 1);
  if (rest.includes('@')) return 'expected at most one "@", as in user@host';
  if (!USER_NAME.test(user)) {
    return 'expected a user name before "@" of letters, digits, "_", "." and "-", starting with a letter or "_", at most 32 characters';
  }
  return { user, rest, userGiven: true };
}

/** Splits what follows the user into the host and the port as written, if one was. */
function splitHostPort(rest: string): { host: string; portText: string | undefined } | string {
  if (rest.startsWith('[')) {
    const match = /^\[([^\]]*)\](?::(.*))?$/.exec(rest);
    if (!match) return 'expected "[IPv6 address]" optionally followed by ":port"';
    const host = match[1] ?? '';
    if (!isIPv6(host)) return 'expected an IPv6 address inside "[ ]"';
    return { host, portText: match[2] };
  }
  if (rest.split(':').length > 2) {
    // Several colons: a bare IPv6 address, which cannot carry a port without brackets.
    if (!isIPv6(rest)) {
      return 'expected an IPv6 address (write "[address]:port" to give a port)';
    }
    return { host: rest, portText: undefined };
  }
  const colon = rest.indexOf(':');
  const host = colon === -1 ? rest : rest.slice(0, colon);
  const portText = colon === -1 ? undefined : rest.slice(colon + 1);
  const problem = hostProblem(host);
  if (problem) return problem;
  return { host, portText };
}

/** The port written after ":", 22 when none was. */
function parsePort(portText: string | undefined): number | string {
  if (portText === undefined) return 22;
  const port = PORT.test(portText) ? Number(portText) : 0;
  if (port < 1 || port > 65535) return 'expected a port from 1 to 65535 after ":"';
  return port;
}

function hostProblem(host: string): string | undefined {
  if (host.length === 0) return 'expected a host name or IP address before ":"';
  if (isIPv4(host)) return undefined;
  if (/^[0-9.]+$/.test(host)) return 'expected a valid IPv4 address like "203.0.113.10"';
  const labels = host.split('.');
  if (host.length > 253 || !labels.every((label) => HOST_LABEL.test(label))) {
    return 'expected a host name (letters, digits, "-" and "." between labels), an IP address or a ~/.ssh/config alias';
  }
  return undefined;
}
