/**
 * The command runner's protocol, against the real runner script in a local `sh` (dash on Debian):
 * what a channel to the server would carry, byte for byte, without the server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { ClientChannel } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CommandRunner,
  RUNNER_MAX_STDIN,
  runnerArgv,
  runnerCarries,
  runnerRequest,
} from '../../src/remote/command-runner.js';
import { shellJoin } from '../../src/remote/quote.js';
import { canaryPayloads, hostileString } from '../support/hostile.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null)
      process.kill(-(child.pid as number), 'SIGKILL');
  }
});

/** A runner on a local shell, wired like an ssh2 channel (data, stderr, exit, close). */
function localRunner(): { runner: CommandRunner; child: ChildProcess } {
  const [command, ...args] = runnerArgv() as [string, ...string[]];
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  children.push(child);
  // Killed at the end of a test while a write is on its way: not the test's error.
  child.stdin?.on('error', () => {});
  const channel = Object.assign(new EventEmitter(), {
    stderr: child.stderr,
    write: (data: string) => child.stdin?.write(data),
    end: () => child.stdin?.end(),
    close: () => child.kill('SIGKILL'),
  });
  child.stdout?.on('data', (chunk: Buffer) => channel.emit('data', chunk));
  child.on('exit', (code, signal) => channel.emit('exit', code, signal ?? undefined));
  child.on('close', () => channel.emit('close'));
  return { runner: new CommandRunner(channel as unknown as ClientChannel), child };
}

describe('runnerRequest', () => {
  it('frames the command and stdin as counted lines', () => {
    expect(runnerRequest(1, 'true')).toBe('1 1 - 0\ntrue\n');
    expect(runnerRequest(2, "printf 'a\nb'")).toBe("2 2 - 0\nprintf 'a\nb'\n");
    expect(runnerRequest(3, 'cat', 'x\ny\n')).toBe('3 1 2 1\ncat\nx\ny\n');
    expect(runnerRequest(4, 'cat', 'x')).toBe('4 1 1 0\ncat\nx\n');
    expect(runnerRequest(5, 'cat', '\n')).toBe('5 1 1 1\ncat\n\n');
    // An empty stdin is the same end-of-file as none.
    expect(runnerRequest(6, 'cat', '')).toBe('6 1 - 0\ncat\n');
  });
});

describe('runnerCarries', () => {
  it('takes text up to the size limit and refuses what a shell variable cannot hold', () => {
    expect(runnerCarries('true', undefined)).toBe(true);
    expect(runnerCarries('cat', 'x'.repeat(RUNNER_MAX_STDIN))).toBe(true);
    expect(runnerCarries('cat', 'x'.repeat(RUNNER_MAX_STDIN + 1))).toBe(false);
    expect(runnerCarries('cat', 'a\0b')).toBe(false);
    expect(runnerCarries('cat', Buffer.from([0xff, 0xfe]))).toBe(false);
    expect(runnerCarries('cat', Buffer.from('ünïcode'))).toBe(true);
  });
});

describe('CommandRunner on a real shell', () => {
  it('returns each command’s stdout, stderr and exit status, in order', async () => {
    const { runner } = localRunner();
    const a = await runner.run(shellJoin(['sh', '-c', 'printf out; printf err >&2; exit 3']));
    expect([a.stdout.toString(), a.stderr.toString(), a.code]).toEqual(['out', 'err', 3]);
    const b = await runner.run(shellJoin(['printf', '%s\n', 'line 1', 'line 2']));
    expect([b.stdout.toString(), b.stderr.toString(), b.code]).toEqual(['line 1\nline 2\n', '', 0]);
    const c = await runner.run(shellJoin(['sh', '-c', 'exit 0']));
    expect([c.stdout.length, c.stderr.length, c.code]).toEqual([0, 0, 0]);
  });

  it('gives each command exactly its stdin, read or not, and /dev/null without one', async () => {
    const { runner } = localRunner();
    // Exits without reading: the data must not spill into the next command.
    const early = await runner.run(shellJoin(['sh', '-c', 'exit 5']), 'x\n'.repeat(5000));
    expect(early.code).toBe(5);
    for (const data of [
      'a',
      'a\n',
      '\n',
      '\n\n',
      'a\n\nb',
      ' lead and trail ',
      '\\n\\\\',
      'x\r\n',
    ]) {
      const r = await runner.run('cat', data);
      expect(r.stdout.toString()).toBe(data);
    }
    const none = await runner.run(shellJoin(['sh', '-c', 'cat; echo end']));
    expect(none.stdout.toString()).toBe('end\n');
  });

  it('runs a multi-line command line as sh -c would, and keeps no state between commands', async () => {
    const { runner } = localRunner();
    const script = 'set -u\nx=1\ncd /\nprintf "%s %s" "$x" "$PWD"';
    const r = await runner.run(shellJoin(['sh', '-c', script]));
    expect(r.stdout.toString()).toBe('1 /');
    // `exit`, `cd` and variables in one command line do not reach the runner or the next one.
    await runner.run('cd /tmp; x=2; exit 4');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
    const after = await runner.run('printf "%s" "${x-unset}"; pwd');
    expect(after.stdout.toString()).toBe(`unset${process.cwd()}\n`);
    expect(runner.usable).toBe(true);
  });

  it('cannot be fooled by output that looks like its end marker', async () => {
    const { runner } = localRunner();
    const fake = `${'0'.repeat(32)} 1 0\n${'f'.repeat(32)} 1\n`;
    const r = await runner.run(
      shellJoin(['sh', '-c', 'printf "%s" "$1"; printf "%s" "$1" >&2', 'sh', fake]),
    );
    expect([r.stdout.toString(), r.stderr.toString(), r.code]).toEqual([fake, fake, 0]);
  });

  it('streams output to listeners as it comes, holding back only what might be the marker', async () => {
    const { runner } = localRunner();
    const marker = (runner as unknown as { marker: string }).marker;
    const seen: string[] = [];
    let firstAt = 0;
    const started = Date.now();
    // The output ends with the marker's first half: output all the same.
    const tail = marker.slice(0, 16);
    const r = await runner.run(
      shellJoin(['sh', '-c', 'printf "one\\n"; sleep 0.5; printf "two %s" "$1"', 'sh', tail]),
      undefined,
      {
        onStdout: (chunk) => {
          if (seen.length === 0) firstAt = Date.now() - started;
          seen.push(chunk.toString());
        },
      },
    );
    expect(firstAt).toBeLessThan(400);
    expect(seen.join('')).toBe(`one\ntwo ${tail}`);
    expect(r.stdout.toString()).toBe(`one\ntwo ${tail}`);
  });

  it('carries big output whole', async () => {
    const { runner } = localRunner();
    const r = await runner.run(shellJoin(['sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" x']));
    expect(r.stdout.length).toBe(3_000_000);
    expect(r.stdout.every((b) => b === 0x78)).toBe(true);
  });

  it('reports a runner that dies mid-command as that command ending without a status', async () => {
    const { runner, child } = localRunner();
    // As sshd ends a session: the runner and what it runs (the whole process group).
    const running = runner.run(shellJoin(['sh', '-c', 'printf started; exec sleep 30']));
    setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), 200);
    const r = await running;
    expect(r.stdout.toString()).toBe('started');
    expect(r.code).toBeNull();
    expect(r.signal).toBe('SIGKILL');
    expect(runner.usable).toBe(false);
    expect(() => runner.run('true')).toThrow(/ended/);
  });

  it('passes 300 hostile values through as arguments and as stdin, byte for byte, running none', async () => {
    const { runner } = localRunner();
    const dir = mkdtempSync(join(tmpdir(), 'toss-canary-'));
    const canary = join(dir, 'canary');
    const values = [...canaryPayloads(canary), ...fc.sample(hostileString(canary), 300)];
    for (const value of values) {
      const asArg = await runner.run(shellJoin(['printf', '%s', value]));
      expect(asArg.stdout.equals(Buffer.from(value))).toBe(true);
      const asStdin = await runner.run('cat', value);
      expect(asStdin.stdout.equals(Buffer.from(value))).toBe(true);
    }
    const check = await runner.run(shellJoin(['sh', '-c', '[ ! -e "$1" ]', 'sh', canary]));
    rmSync(dir, { recursive: true, force: true });
    expect(check.code, 'a payload created the canary file').toBe(0);
  }, 60_000);
});
