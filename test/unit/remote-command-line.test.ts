import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildCommandLine,
  MISSING_FILE_EXIT,
  readFileArgv,
  TIMED_OUT_EXITS,
} from '../../src/remote/command-line.js';
import { shellJoin, shellQuote } from '../../src/remote/quote.js';

const scratch = mkdtempSync(join(tmpdir(), 'toss-cmdline-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const pwned = join(scratch, 'pwned');
const HOSTILE = `$(touch ${pwned}); 'a" \`id\``;

/** Run a command line the way sshd does: the login shell's `-c`. */
function remote(line: string, input?: string | Buffer) {
  const result = spawnSync('sh', ['-c', line], { input, cwd: scratch });
  return {
    code: result.status,
    stdout: result.stdout.toString(),
    stderr: result.stderr.toString(),
  };
}

describe('buildCommandLine', () => {
  it('builds exact lines', () => {
    expect(buildCommandLine(['systemctl', 'restart', 'toss-app-production@3000.service'])).toBe(
      'systemctl restart toss-app-production@3000.service',
    );
    expect(buildCommandLine(['systemctl', 'daemon-reload'], { sudo: true })).toBe(
      'sudo -n -- systemctl daemon-reload',
    );
    expect(buildCommandLine(['npm', 'ci'], { cwd: '/srv/app/releases/1' })).toBe(
      `sh -c 'cd -- "$1" && shift && exec "$@"' sh /srv/app/releases/1 npm ci`,
    );
    expect(buildCommandLine(['ls'], { sudo: true, cwd: '/root dir' })).toBe(
      `sudo -n -- sh -c 'cd -- "$1" && shift && exec "$@"' sh '/root dir' ls`,
    );
    expect(buildCommandLine(['printf', '%s', HOSTILE])).toBe(`printf '%s' ${shellQuote(HOSTILE)}`);
  });

  it('stops a command on the server after timeoutMs, inside sudo and outside the cd', () => {
    expect(buildCommandLine(['sleep', '60'], { timeoutMs: 1_500 })).toBe(
      'timeout -k 5 1.5 sleep 60',
    );
    expect(buildCommandLine(['ls'], { sudo: true, cwd: '/srv', timeoutMs: 30_000 })).toBe(
      `sudo -n -- timeout -k 5 30 sh -c 'cd -- "$1" && shift && exec "$@"' sh /srv ls`,
    );
    expect(() => buildCommandLine(['ls'], { timeoutMs: 0 })).toThrow(/timeoutMs/);
    const started = Date.now();
    const out = remote(buildCommandLine(['sh', '-c', 'sleep 30; echo late'], { timeoutMs: 300 }));
    expect(TIMED_OUT_EXITS).toContain(out.code);
    expect(out.stdout).toBe('');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('refuses an empty argv', () => {
    expect(() => buildCommandLine([])).toThrow(/program name/);
  });

  it('runs in cwd with hostile names, passing arguments verbatim', () => {
    const dir = join(scratch, `dir '$(x)" \`y\` -n`);
    mkdirSync(dir);
    const out = remote(
      buildCommandLine(['sh', '-c', 'pwd; printf "%s" "$1"', 'sh', HOSTILE], { cwd: dir }),
    );
    expect(out).toMatchObject({ code: 0, stdout: `${dir}\n${HOSTILE}` });
    expect(existsSync(pwned)).toBe(false);
  });

  it('fails when cwd does not exist, running nothing', () => {
    const marker = join(scratch, 'ran');
    const out = remote(buildCommandLine(['touch', marker], { cwd: join(scratch, 'missing') }));
    expect(out.code).not.toBe(0);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('readFileArgv', () => {
  it('prints the file, or exits MISSING_FILE_EXIT when there is none', () => {
    const file = join(scratch, `read me '$(x)`);
    writeFileSync(file, 'contents\n');
    expect(remote(shellJoin(readFileArgv(file)))).toMatchObject({ code: 0, stdout: 'contents\n' });
    expect(remote(shellJoin(readFileArgv(join(scratch, 'absent')))).code).toBe(MISSING_FILE_EXIT);
    expect(remote(shellJoin(readFileArgv(join(scratch, 'no', 'such', 'dir', 'f')))).code).toBe(
      MISSING_FILE_EXIT,
    );
    expect(remote(shellJoin(readFileArgv('relative-absent'))).code).toBe(MISSING_FILE_EXIT);
    const dirRead = remote(shellJoin(readFileArgv(scratch)));
    expect(dirRead.code).not.toBe(0);
    expect(dirRead.code).not.toBe(MISSING_FILE_EXIT);
  });
});
