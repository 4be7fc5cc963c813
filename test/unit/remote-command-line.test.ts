import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildCommandLine,
  MISSING_FILE_EXIT,
  readFileArgv,
  scriptArgv,
  scriptStdin,
  TIMED_OUT_EXITS,
  writeFileArgv,
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

describe('scripts on stdin', () => {
  it('reads the whole script before running it, so commands cannot eat the rest', () => {
    const script = [
      'set -e',
      'cat',
      `printf '%s|' "$1" "$2"`,
      `printf %s ${shellQuote(HOSTILE)}`,
    ].join('\n');
    const out = remote(shellJoin(scriptArgv([HOSTILE, 'two'])), scriptStdin(script));
    expect(out).toMatchObject({ code: 0, stdout: `${HOSTILE}|two|${HOSTILE}` });
    expect(existsSync(pwned)).toBe(false);
  });

  it('runs nothing when the script has a syntax error', () => {
    const marker = join(scratch, 'half-ran');
    const out = remote(
      shellJoin(scriptArgv()),
      scriptStdin(`touch ${shellQuote(marker)}\nif then fi (`),
    );
    expect(out.code).not.toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  it('keeps heredocs and exit statuses', () => {
    const script = 'cat <<EOF\nhello\nEOF\nexit 7';
    expect(remote(shellJoin(scriptArgv()), scriptStdin(script))).toMatchObject({
      code: 7,
      stdout: 'hello\n',
    });
  });
});

describe('writeFileArgv', () => {
  it('writes stdin atomically with the mode set, leaving no temp file', () => {
    const dir = join(scratch, `w d'ir`);
    mkdirSync(dir);
    const target = join(dir, `secret's.env`);
    writeFileSync(target, 'old');
    const contents = Buffer.concat([
      Buffer.from(`KEY=${HOSTILE}\nUNICODE=日本語\n`),
      Buffer.from([0, 255, 10]),
    ]);
    const out = remote(shellJoin(writeFileArgv(target, 0o600)), contents);
    expect(out.code, out.stderr).toBe(0);
    expect(readFileSync(target)).toEqual(contents);
    expect(statSync(target).mode & 0o7777).toBe(0o600);
    expect(readdirSync(dir)).toEqual([`secret's.env`]);
    expect(existsSync(pwned)).toBe(false);
  });

  it('sets owner and other modes, and writes empty files', () => {
    const target = join(scratch, 'empty');
    const owner = process.getuid?.() === 0 ? 'root:root' : '';
    expect(remote(shellJoin(writeFileArgv(target, 0o644, owner)), '').code).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe('');
    expect(statSync(target).mode & 0o7777).toBe(0o644);
  });

  it('replaces a symlink instead of writing through it, and never writes into a directory', () => {
    const real = join(scratch, 'real');
    const link = join(scratch, 'link');
    writeFileSync(real, 'real');
    spawnSync('ln', ['-s', real, link]);
    expect(remote(shellJoin(writeFileArgv(link, 0o600)), 'new').code).toBe(0);
    expect(readFileSync(real, 'utf8')).toBe('real');
    expect(readFileSync(link, 'utf8')).toBe('new');

    const dir = join(scratch, 'a-dir');
    mkdirSync(dir);
    expect(remote(shellJoin(writeFileArgv(dir, 0o600)), 'x').code).not.toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails without leaving anything when the directory is missing', () => {
    const out = remote(shellJoin(writeFileArgv(join(scratch, 'nope', 'f'), 0o600)), 'x');
    expect(out.code).not.toBe(0);
  });

  it('validates mode and path', () => {
    expect(() => writeFileArgv('/x', 0o10000)).toThrow(/mode/);
    expect(() => writeFileArgv('/x', 1.5)).toThrow(/mode/);
    expect(() => writeFileArgv('', 0o600)).toThrow(/path/);
    expect(writeFileArgv('/x', 0o600).slice(-3)).toEqual(['/x', '0600', '']);
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
