/**
 * Hostile input through SSH: 500 hostile values per property through the REAL quoting and SSH layer
 * of one connection to a real host: plain commands as root, commands through `sudo -n` as the
 * deploy user, output streamed and collected (collected output and stdin go through the
 * connection's command runners), guarded and batched commands under the app's lock, and (secret
 * values) the env file written on stdin and read back by systemd itself. Bytes must match exactly, a NUL is
 * refused before anything is sent, and the canary file that every payload would create is never
 * created.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TossError } from '../../src/errors.js';
import { acquireLock, type HeldLock } from '../../src/pipeline/lock.js';
import { Session } from '../../src/pipeline/session.js';
import { envValueProblem, parseEnvFile, serializeEnvFile } from '../../src/server/env-file.js';
import { writeFileIfChangedArgv } from '../../src/server/write-file.js';
import { branchLike, hostileString } from '../support/hostile.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { reportRow } from './support/reliability.js';

const RUNS = 500;
const ID = randomBytes(6).toString('hex');
const CANARY = `/tmp/canary-${ID}`;
const APP = 'hostile';
let host: TestHost;
let root: Session;
let deployer: Session;
let lock: HeldLock;
const counts = new Map<string, { runs: number; ok: number }>();

function login(user: string) {
  return {
    host: host.ip,
    port: host.port,
    user,
    privateKey: host.key,
    knownHosts: `${host.knownHostsLines.join('\n')}\n`,
  };
}

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  root = await Session.open(login('root'), APP);
  deployer = await Session.open(login('deploy'), APP);
  lock = await acquireLock(
    root,
    {
      environment: 'production',
      actor: { by: 'hostile-test' },
      lockWaitSeconds: 0,
      origin: 'github.com/octo/hostile',
    },
    () => {},
  );
});
afterAll(async () => {
  for (const [scenario, c] of counts) {
    reportRow({ scenario, runs: c.runs, survived: c.ok, lost: c.runs - c.ok });
  }
  await lock?.release();
  await root?.close();
  await deployer?.close();
  await host?.shutdown();
});

async function bytesOf(session: Session, argv: string[], sudo: boolean): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const options = { onStdout: (c: Buffer) => chunks.push(c) };
  if (sudo) await session.root(argv, options);
  else await session.conn.run(argv, options);
  return Buffer.concat(chunks);
}

async function canaryExists(): Promise<boolean> {
  return (await host.exec(['sh', '-c', 'ls /tmp/canary-* 2>/dev/null | grep -q .'])).code === 0;
}

let cases = 0;

/** The checks every value goes through; `extra` adds the property's own. */
async function throughSsh(value: string, extra?: (value: string) => Promise<void>) {
  const argv = ['printf', '%s', value];
  if (value.includes('\0')) {
    // Refused before anything is sent, with a message saying why.
    const attempt = async () => root.conn.run(argv);
    await expect(attempt()).rejects.toThrow(TossError);
    await expect(attempt()).rejects.toThrow(/NUL/);
    return;
  }
  const want = Buffer.from(value, 'utf8');
  const chunks: Buffer[] = [];
  // Three channels of the one connection at once: as root; through `sudo -n --` as the deploy
  // user; guarded (token checked under flock) and batched (`sh -c 'a && b && c'`).
  // (`sudo` costs a PAM session: every 4th value takes that path.)
  const sudo = cases++ % 4 === 0;
  // Collected (not streamed) output and stdin go through the connection's command runners: one
  // long-lived shell reading many commands (command-runner.ts), as root or through one `sudo -n`.
  const collected = (r: { stdout: string }) => Buffer.from(r.stdout, 'utf8');
  const [asRoot, viaSudo, inRunner, stdinInRunner] = await Promise.all([
    bytesOf(root, argv, false),
    sudo ? bytesOf(deployer, argv, true) : Promise.resolve(want),
    (sudo ? deployer.root(argv) : root.conn.run(argv)).then(collected),
    root.root(['cat'], { stdin: value }).then(collected),
    root.batch([argv, ['printf', '%s', '|'], argv], { onStdout: (c: Buffer) => chunks.push(c) }),
    extra?.(value),
  ]);
  expect(asRoot.equals(want)).toBe(true);
  expect(viaSudo.equals(want)).toBe(true);
  expect(inRunner.equals(want)).toBe(true);
  expect(stdinInRunner.equals(want)).toBe(true);
  expect(Buffer.concat(chunks).equals(Buffer.from(`${value}|${value}`, 'utf8'))).toBe(true);
}

function property(
  name: string,
  arbitrary: fc.Arbitrary<string>,
  extra?: (v: string) => Promise<void>,
) {
  it(`${name}: ${RUNS} hostile values through the SSH layer, byte for byte, nothing executed`, async () => {
    const c = { runs: 0, ok: 0 };
    counts.set(`hostile ${name} via SSH layer`, c);
    await fc.assert(
      fc.asyncProperty(arbitrary, async (value) => {
        c.runs++;
        await throughSsh(value, extra);
        c.ok++;
      }),
      { numRuns: RUNS },
    );
    expect(await canaryExists(), 'a canary file was created on the host').toBe(false);
  }, 240_000);
}

const ENV_FILE = `/srv/${APP}/production/env/hostile-test.env`;
let systemdChecks = 0;

describe('hostile values through one real SSH connection', () => {
  beforeAll(async () => {
    await root.root(['mkdir', '-p', `/srv/${APP}/production/env`]);
  });
  property('branch names', branchLike(CANARY));
  property('environment names', hostileString(CANARY, { nul: true }));
  property('PR titles', hostileString(CANARY, { nul: true }));
  property(
    '-s pairs',
    fc
      .tuple(
        fc.oneof(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/), hostileString(CANARY)),
        hostileString(CANARY, { nul: true }),
      )
      .map(([k, v]) => `${k}=${v}`),
  );
  property('toss.json string fields', hostileString(CANARY, { nul: true }));
  property('secret values', hostileString(CANARY, { nul: true }), async (value) => {
    if (envValueProblem(value) !== undefined) {
      // A noncharacter systemd would refuse: never written, rejected naming the key.
      expect(() => serializeEnvFile([['SECRET', value]])).toThrow(/SECRET: the value contains U\+/);
      return;
    }
    // Secret values travel on stdin only: written by the guarded file writer, read back as text.
    await root.guarded(writeFileIfChangedArgv({ path: ENV_FILE, mode: 0o600 }), {
      stdin: serializeEnvFile([['SECRET', value]]),
    });
    const text = (await root.root(['cat', ENV_FILE])).stdout;
    expect(parseEnvFile(text).get('SECRET')).toBe(value);
    const mode = (await root.root(['stat', '-c', '%a %U', ENV_FILE])).stdout.trim();
    expect(mode).toBe('600 root');
    // And systemd itself reads the file as a unit's EnvironmentFile= (every 10th value).
    if (systemdChecks++ % 10 === 0) {
      const chunks: Buffer[] = [];
      await root.root(
        [
          'systemd-run',
          '--wait',
          '--pipe',
          '--quiet',
          '--collect',
          `--property=EnvironmentFile=${ENV_FILE}`,
          '--',
          '/usr/bin/printenv',
          'SECRET',
        ],
        { onStdout: (c: Buffer) => chunks.push(c) },
      );
      expect(Buffer.concat(chunks).toString('utf8')).toBe(`${value}\n`);
    }
  });
});
