import { describe, expect, it } from 'vitest';
import { parseServer, serverProblem } from '../../src/config/server.js';
import { ConfigError } from '../../src/errors.js';

describe('parseServer', () => {
  it.each<[string, { host: string; user: string; port: number; isAlias: boolean }]>([
    ['203.0.113.10', { host: '203.0.113.10', user: 'root', port: 22, isAlias: false }],
    ['myapp.com', { host: 'myapp.com', user: 'root', port: 22, isAlias: false }],
    ['deploy@myapp.com', { host: 'myapp.com', user: 'deploy', port: 22, isAlias: false }],
    ['deploy@myapp.com:2222', { host: 'myapp.com', user: 'deploy', port: 2222, isAlias: false }],
    ['203.0.113.10:65535', { host: '203.0.113.10', user: 'root', port: 65535, isAlias: false }],
    ['user@[2001:db8::1]:2222', { host: '2001:db8::1', user: 'user', port: 2222, isAlias: false }],
    ['[::1]', { host: '::1', user: 'root', port: 22, isAlias: false }],
    ['2001:db8::1', { host: '2001:db8::1', user: 'root', port: 22, isAlias: false }],
    ['deploy@2001:db8::1', { host: '2001:db8::1', user: 'deploy', port: 22, isAlias: false }],
    ['prod', { host: 'prod', user: 'root', port: 22, isAlias: true }],
    ['my_box', { host: 'my_box', user: 'root', port: 22, isAlias: true }],
    ['ci@prod:2200', { host: 'prod', user: 'ci', port: 2200, isAlias: true }],
    ['first.last@host.lan', { host: 'host.lan', user: 'first.last', port: 22, isAlias: false }],
  ])('%s', (server, expected) => {
    expect(parseServer(server)).toMatchObject(expected);
  });

  it('says whether user and port were written, so an alias can supply them', () => {
    expect(parseServer('prod')).toMatchObject({ userGiven: false, portGiven: false });
    expect(parseServer('ci@prod:22')).toMatchObject({ userGiven: true, portGiven: true });
  });

  const SPACES = 'expected an SSH target without spaces or control characters';
  const PORT = 'expected a port from 1 to 65535 after ":"';
  const USER =
    'expected a user name before "@" of letters, digits, "_", "." and "-", starting with a letter or "_", at most 32 characters';
  const HOST =
    'expected a host name (letters, digits, "-" and "." between labels), an IP address or a ~/.ssh/config alias';

  it.each<[string, string]>([
    [
      '',
      'server: expected an SSH target like "203.0.113.10", "deploy@myapp.com:2222", "root@[2001:db8::1]:22" or a ~/.ssh/config alias, got ""',
    ],
    ['my host', `server: ${SPACES}, got "my host"`],
    ['host\n', `server: ${SPACES}, got "host\\n"`],
    ['host\u0000', `server: ${SPACES}, got "host\\u0000"`],
    [
      '-oProxyCommand=x',
      'server: expected an SSH target that does not start with "-", got "-oProxyCommand=x"',
    ],
    ['host:0', `server: ${PORT}, got "host:0"`],
    ['host:65536', `server: ${PORT}, got "host:65536"`],
    ['host:', `server: ${PORT}, got "host:"`],
    ['host:22a', `server: ${PORT}, got "host:22a"`],
    ['[::1]:99999', `server: ${PORT}, got "[::1]:99999"`],
    ['-x@host', 'server: expected an SSH target that does not start with "-", got "-x@host"'],
    ['bad$user@host', `server: ${USER}, got "bad$user@host"`],
    ['@host', `server: ${USER}, got "@host"`],
    ['root@', 'server: expected a host after "@", got "root@"'],
    ['a@b@c', 'server: expected at most one "@", as in user@host, got "a@b@c"'],
    ['[::1', 'server: expected "[IPv6 address]" optionally followed by ":port", got "[::1"'],
    ['[myhost]:22', 'server: expected an IPv6 address inside "[ ]", got "[myhost]:22"'],
    [
      'a:b:c',
      'server: expected an IPv6 address (write "[address]:port" to give a port), got "a:b:c"',
    ],
    ['300.1.1.1', 'server: expected a valid IPv4 address like "203.0.113.10", got "300.1.1.1"'],
    ['host..com', `server: ${HOST}, got "host..com"`],
    ['host-.com', `server: ${HOST}, got "host-.com"`],
    ['ho/st', `server: ${HOST}, got "ho/st"`],
    ['$(reboot)', `server: ${HOST}, got "$(reboot)"`],
    [':22', 'server: expected a host name or IP address before ":", got ":22"'],
  ])('rejects %j', (server, line) => {
    expect(serverProblem(server)).toBeDefined();
    let caught: unknown;
    try {
      parseServer(server);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems).toEqual([line]);
  });

  it('names the field it was given', () => {
    expect(() => parseServer('host:0', 'server input')).toThrow(/^server input: expected a port/);
  });
});
