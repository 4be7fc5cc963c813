/**
 * The SSH layer against a real Debian host (sshd, sudo, systemd): trust, quoting, files, faults.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError, HostKeyError, RemoteCommandError } from '../../src/errors.js';
import { type ConnectOptions, SshConnection } from '../../src/remote/connection.js';
import type { HostKeyRefusedError } from '../../src/remote/host-key-policy.js';
import { fingerprintSha256, knownHostsLine } from '../../src/remote/known-hosts.js';
import { shellQuote } from '../../src/remote/quote.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';

const HOSTILE = `$(touch /tmp/pwned); 'a" \`id\``;

let host: TestHost;
let scratch: string;
let strangerKeyPath: string;
let strangerHostLine: string;

/** Fingerprint of a known_hosts line's key. */
const fingerprintOfLine = (line: string) =>
  fingerprintSha256(Buffer.from(line.split(' ')[2]!, 'base64'));

function options(overrides: Partial<ConnectOptions> = {}): ConnectOptions {
  return {
    host: host.ip,
    port: host.port,
    username: host.users.root.name,
    privateKeyPath: host.keyPath,
    knownHosts: `${host.knownHostsLine}\n`,
    ...overrides,
  };
}

/** Connect, run `body`, always dispose. */
async function withConnection<T>(
  overrides: Partial<ConnectOptions>,
  body: (conn: SshConnection) => Promise<T>,
): Promise<T> {
  const conn = await SshConnection.connect(options(overrides));
  try {
    return await body(conn);
  } finally {
    await conn.dispose();
  }
}

async function exec(argv: string[]): Promise<string> {
  const result = await host.exec(argv);
  if (result.code !== 0) throw new Error(`${argv.join(' ')} failed on the host: ${result.stderr}`);
  return result.stdout;
}

async function expectRejection<E extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => E,
): Promise<E> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(type);
  return error as E;
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  const booted = await bootHosts(1);
  host = booted[0]!;
  scratch = mkdtempSync(join(tmpdir(), 'toss-ssh-e2e-'));
  // A key nobody authorised, and a host key nobody has: for the refusals.
  strangerKeyPath = join(scratch, 'stranger');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', strangerKeyPath]);
  const strangerPub = readFileSync(`${strangerKeyPath}.pub`, 'utf8').split(' ');
  strangerHostLine = knownHostsLine(
    host.ip,
    host.port,
    strangerPub[0]!,
    Buffer.from(strangerPub[1]!, 'base64'),
  );
  await exec(['rm', '-f', '/tmp/pwned']);
});

afterAll(async () => {
  await host?.shutdown();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('commands', () => {
  it('runs as root, verifying the host key from known_hosts', async () => {
    await withConnection({}, async (conn) => {
      expect(conn.isRoot).toBe(true);
      expect(conn.hostKey).toMatchObject({
        keyType: 'ssh-ed25519',
        source: 'known-hosts',
        line: host.knownHostsLine,
        fingerprint: fingerprintOfLine(host.knownHostsLine),
      });
      expect(await conn.run(['id', '-un'])).toMatchObject({
        stdout: 'root\n',
        stderr: '',
        code: 0,
      });
      await conn.checkSudo();
    });
  });

  it('runs as deploy, and as root through sudo -n', async () => {
    await withConnection({ username: host.users.deploy.name }, async (conn) => {
      expect(conn.isRoot).toBe(false);
      await conn.checkSudo();
      expect((await conn.run(['id', '-un'])).stdout).toBe('deploy\n');
      expect((await conn.runAsRoot(['id', '-un'])).stdout).toBe('root\n');
      expect((await conn.runAsRoot(['pwd'], { cwd: '/root' })).stdout).toBe('/root\n');
    });
  });

  it('passes a hostile argument verbatim and runs none of it', async () => {
    for (const username of [host.users.root.name, host.users.deploy.name]) {
      await withConnection({ username }, async (conn) => {
        expect((await conn.run(['printf', '%s', HOSTILE])).stdout).toBe(HOSTILE);
        expect((await conn.runAsRoot(['printf', '%s', HOSTILE])).stdout).toBe(HOSTILE);
        const cwd = `/tmp/${HOSTILE.replaceAll('/', '_')}`;
        await conn.runAsRoot(['mkdir', '-p', '--', cwd]);
        expect((await conn.runAsRoot(['pwd'], { cwd })).stdout).toBe(`${cwd}\n`);
        expect((await conn.run(['printf', '%s|', '', ' ', '-n', 'é\n日本'])).stdout).toBe(
          '| |-n|é\n日本|',
        );
      });
    }
    expect((await host.exec(['test', '-e', '/tmp/pwned'])).code).not.toBe(0);
  });

  it('reports a failure with its exit code and output tail, or returns it with allowFailure', async () => {
    await withConnection({}, async (conn) => {
      const argv = ['sh', '-c', 'seq 1 50; echo boom >&2; exit 3'];
      const result = await conn.run(argv, { allowFailure: true });
      expect(result.code).toBe(3);
      const error = await expectRejection(conn.run(argv), RemoteCommandError);
      expect(error.exitCode).toBe(3);
      expect(error.command).toBe(`sh -c 'seq 1 50; echo boom >&2; exit 3'`);
      expect(error.outputTail.split('\n')).toHaveLength(20);
      expect(error.outputTail).toContain('boom');
      expect(error.outputTail).toContain('50');
    });
  });

  it('streams output and times out a command without losing the connection', async () => {
    await withConnection({}, async (conn) => {
      const chunks: string[] = [];
      await conn.run(['sh', '-c', 'echo one; echo two >&2'], {
        onStdout: (chunk) => chunks.push(`out:${chunk}`),
        onStderr: (chunk) => chunks.push(`err:${chunk}`),
      });
      expect(chunks.sort()).toEqual(['err:two\n', 'out:one\n']);

      const started = Date.now();
      const error = await expectRejection(
        conn.run(['sleep', '31'], { timeoutMs: 1_000 }),
        RemoteCommandError,
      );
      expect(error.message).toMatch(/timed out after 1 s/);
      expect(Date.now() - started).toBeLessThan(5_000);
      // The server stopped the command, not just our side of the channel.
      expect((await host.exec(['pgrep', '-f', 'sleep 31'])).code).toBe(1);
      expect((await conn.run(['echo', 'still here'])).stdout).toBe('still here\n');
    });
  });
});

describe('stdin and files', () => {
  it('runs a script from stdin, keeping secret values off the command line', async () => {
    const secret = `s3cret-${Date.now()} ${HOSTILE}`;
    await withConnection({ username: host.users.deploy.name }, async (conn) => {
      const script = [
        `secret=${shellQuote(secret)}`,
        'cat', // must not swallow the rest of the script
        'sleep 2',
        `printf '%s|%s|%s' "$secret" "$1" "$(id -un)"`,
      ].join('\n');
      // A brace group: the shell parses the whole script before running any of it.
      const running = conn.run(['sh', '-s', '--', 'arg one'], {
        sudo: true,
        stdin: `{\n${script}\n}\n`,
      });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const ps = await exec(['ps', '-eo', 'args']);
      expect(ps).toContain('sh -s -- arg one');
      expect(ps).not.toContain('s3cret');
      expect((await running).stdout).toBe(`${secret}|arg one|root`);

      expect((await conn.run(['cat'], { stdin: Buffer.from('bytes 日本\n') })).stdout).toBe(
        'bytes 日本\n',
      );
    });
    expect((await host.exec(['test', '-e', '/tmp/pwned'])).code).not.toBe(0);
  });

  it('reads root-only files through sudo, null when missing, refused without sudo', async () => {
    const path = '/root/toss test secrets.env';
    const contents = `KEY=${HOSTILE}\nUNICODE=日本語\n`;
    const planted = await host.exec(['sh', '-c', 'umask 077 && cat > "$1"', 'sh', path], {
      input: contents,
    });
    expect(planted.code, planted.stderr).toBe(0);
    await withConnection({ username: host.users.deploy.name }, async (conn) => {
      expect(await conn.readFileIfExists(path)).toBe(contents);
      expect(await conn.readFileIfExists('/root/absent')).toBeNull();
      const denied = await expectRejection(
        conn.readFileIfExists(path, { sudo: false }),
        RemoteCommandError,
      );
      expect(denied.outputTail).toMatch(/Permission denied/);
      expect((await host.exec(['test', '-e', '/tmp/pwned'])).code).not.toBe(0);
    });
  });
});

describe('host keys', () => {
  it('refuses a changed host key, naming both fingerprints, even with acceptNew', async () => {
    for (const trust of [undefined, { acceptNew: true as const }]) {
      const error = await expectRejection(
        SshConnection.connect(
          options({ knownHosts: strangerHostLine, ...(trust ? { trust } : {}) }),
        ),
        HostKeyError,
      );
      expect(error.message).toMatch(/HOST KEY CHANGED/);
      expect(error.message).toContain(fingerprintOfLine(strangerHostLine));
      expect(error.message).toContain(fingerprintOfLine(host.knownHostsLine));
      expect((error as HostKeyRefusedError).reason).toBe('changed');
    }
  });

  it('refuses an unknown host with its fingerprint and the unverified line to add', async () => {
    const other = `10.213.250.2 ${host.knownHostsLine.split(' ').slice(1).join(' ')}`; // another host's entry
    const error = await expectRejection(
      SshConnection.connect(options({ knownHosts: `# empty\n${other}\n` })),
      HostKeyError,
    );
    expect(error.message).toMatch(/unknown host/);
    expect(error.message).toContain(fingerprintOfLine(host.knownHostsLine));
    expect(error.hint).toMatch(/UNVERIFIED/);
    expect(error.hint).toContain('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub');
    expect(error.hint).toContain(host.knownHostsLine);
  });

  it('accepts a new host only when asked (acceptNew or a matching pin) and exposes the key', async () => {
    await withConnection({ knownHosts: '', trust: { acceptNew: true } }, async (conn) => {
      expect(conn.hostKey).toMatchObject({ source: 'accepted-new', line: host.knownHostsLine });
      expect(conn.hostKey.fingerprint).toBe(fingerprintOfLine(host.knownHostsLine));
    });
    const pin = fingerprintOfLine(host.knownHostsLine);
    await withConnection({ knownHosts: '', trust: { pinnedFingerprint: pin } }, async (conn) => {
      expect(conn.hostKey.source).toBe('pinned');
    });
    const error = await expectRejection(
      SshConnection.connect(
        options({
          knownHosts: '',
          trust: { pinnedFingerprint: fingerprintOfLine(strangerHostLine) },
        }),
      ),
      HostKeyError,
    );
    expect(error.message).toContain(pin);
  });

  it('makes the server present the key type known_hosts lists', async () => {
    const rsaLine = host.knownHostsLines.find((line) => line.split(' ')[1] === 'ssh-rsa')!;
    await withConnection({ knownHosts: rsaLine }, async (conn) => {
      expect(conn.hostKey.keyType).toBe('ssh-rsa');
      expect(conn.hostKey.line).toBe(rsaLine);
    });
  });
});

describe('authentication and reachability', () => {
  it('says clearly when the key is not accepted', async () => {
    const error = await expectRejection(
      SshConnection.connect(options({ privateKeyPath: strangerKeyPath })),
      ConnectionError,
    );
    expect(error.message).toContain(`did not accept the SSH key for root@${host.ip}`);
    expect(error.message).toContain(strangerKeyPath);
    expect(error.hint).toMatch(/authorized_keys/);
    expect(error.hint).toMatch(/--identity/);
  });

  it('says clearly when sudo needs a password', async () => {
    const setup = [
      'id nopw >/dev/null 2>&1 || useradd -m -s /bin/bash nopw',
      'install -d -m 700 -o nopw -g nopw /home/nopw/.ssh',
      'install -m 600 -o nopw -g nopw /root/.ssh/authorized_keys /home/nopw/.ssh/authorized_keys',
      "echo 'nopw ALL=(ALL) ALL' > /etc/sudoers.d/nopw",
    ].join('\n');
    await exec(['sh', '-c', setup]);
    await withConnection({ username: 'nopw' }, async (conn) => {
      const error = await expectRejection(conn.checkSudo(), RemoteCommandError);
      expect(error.message).toBe(
        `sudo asks nopw@${host.ip} for a password: toss needs passwordless sudo for nopw`,
      );
      expect(error.hint).toContain('NOPASSWD');
      await expectRejection(conn.readFileIfExists('/root/x'), RemoteCommandError);
    });
  });

  it('refused connections fail fast with what to check', async () => {
    const error = await expectRejection(
      SshConnection.connect(options({ port: 2 })),
      ConnectionError,
    );
    expect(error.message).toMatch(/connection refused/);
  });
});

describe('one connection', () => {
  const acceptedLogins = async () =>
    Number(
      (
        await exec([
          'sh',
          '-c',
          'journalctl -u ssh --no-pager -o cat | grep -c "Accepted publickey" || true',
        ])
      ).trim(),
    );

  it('reuses one SSH connection for every command', async () => {
    const before = await acceptedLogins();
    await withConnection({ username: host.users.deploy.name }, async (conn) => {
      await conn.checkSudo();
      for (let i = 0; i < 5; i++) await conn.run(['true']);
      await conn.runAsRoot(['true']);
      await conn.run(['cat'], { stdin: 'x' });
      await conn.readFileIfExists('/tmp/reuse');
      await Promise.all([
        conn.run(['sleep', '0.3']),
        conn.run(['sleep', '0.3']),
        conn.runAsRoot(['true']),
      ]);
    });
    await until(async () => (await acceptedLogins()) >= before + 1, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await acceptedLogins()).toBe(before + 1);
  });

  it('dispose closes the connection on both ends', async () => {
    const established = async () =>
      (await exec(['ss', '-Htn', 'state', 'established', 'sport', '=', ':22']))
        .trim()
        .split('\n')
        .filter(Boolean).length;
    const conn = await SshConnection.connect(options());
    await conn.run(['true']);
    expect(await established()).toBeGreaterThanOrEqual(1);
    await conn.dispose();
    await conn.dispose();
    await until(async () => (await established()) === 0, 10_000);
    const error = await expectRejection(conn.run(['true']), ConnectionError);
    expect(error.message).toMatch(/closed/);
  });

  it('a dropped connection fails the running command with ConnectionError, not a hang', async () => {
    const conn = await SshConnection.connect(options());
    const link = (state: 'up' | 'down') => {
      const result = spawnSync('ip', ['link', 'set', host.hostVeth, state], { encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`ip link set ${state}: ${result.stderr}`);
    };
    try {
      const running = conn.run(['sleep', '60']);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      link('down');
      const started = Date.now();
      const error = await expectRejection(running, ConnectionError);
      const elapsed = Date.now() - started;
      expect(error.message).toMatch(/lost the SSH connection to root@.* while running: sleep 60/);
      expect(elapsed).toBeLessThan(20_000);
      await expectRejection(conn.run(['true']), ConnectionError);

      const connectStarted = Date.now();
      await expectRejection(
        SshConnection.connect(options({ connectTimeoutMs: 3_000 })),
        ConnectionError,
      );
      expect(Date.now() - connectStarted).toBeLessThan(6_000);
    } finally {
      link('up');
      await conn.dispose();
    }
    await until(async () => {
      try {
        await withConnection({}, (again) => again.run(['true']));
        return true;
      } catch {
        return false;
      }
    }, 30_000);
  }, 90_000);
});
