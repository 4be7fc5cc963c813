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
  if (server.length === 0 || server.length > MAX_LENGTH) return `expected ${SERVER_EXPECTED}`;
  if (/[\s\p{Cc}\p{Cf}]/u.test(server)) {
    return 'expected an SSH target without spaces or control characters';
  }
  // ssh would read a leading '-' as an option.
  if (server.startsWith('-')) return 'expected an SSH target that does not start with "-"';

  let rest = server;
  let user = 'root';
  const at = server.indexOf('@');
  if (at !== -1) {
    user = server.slice(0, at);
    rest = server.slice(at + 1);
    if (rest.includes('@')) return 'expected at most one "@", as in user@host';
    if (!USER_NAME.test(user)) {
      return 'expected a user name before "@" of letters, digits, "_", "." and "-", starting with a letter or "_", at most 32 characters';
    }
  }
  const userGiven = at !== -1;
  if (rest.length === 0) return 'expected a host after "@"';

  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const match = /^\[([^\]]*)\](?::(.*))?$/.exec(rest);
    if (!match) return 'expected "[IPv6 address]" optionally followed by ":port"';
    host = match[1] ?? '';
    portText = match[2];
    if (!isIPv6(host)) return 'expected an IPv6 address inside "[ ]"';
  } else if (rest.split(':').length > 2) {
    // Several colons: a bare IPv6 address, which cannot carry a port without brackets.
    host = rest;
    if (!isIPv6(host)) {
      return 'expected an IPv6 address (write "[address]:port" to give a port)';
    }
  } else {
    const colon = rest.indexOf(':');
    host = colon === -1 ? rest : rest.slice(0, colon);
    portText = colon === -1 ? undefined : rest.slice(colon + 1);
    const problem = hostProblem(host);
    if (problem) return problem;
  }

  let port = 22;
  if (portText !== undefined) {
    port = PORT.test(portText) ? Number(portText) : 0;
    if (port < 1 || port > 65535) return 'expected a port from 1 to 65535 after ":"';
  }
  const isIp = isIPv4(host) || isIPv6(host);
  return {
    host,
    user,
    port,
    isAlias: !isIp && !host.includes('.'),
    userGiven,
    portGiven: portText !== undefined,
  };
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
