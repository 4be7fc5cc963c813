/** What the bench's scenarios share for running commands on this machine. */
import { spawn } from 'node:child_process';

/** A word as a POSIX shell reads it back, for error messages and ssh's `-e` string. */
export const q = (s: string) =>
  /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;

/** Runs argv (no shell); resolves when it exits 0, else rejects with its stderr. */
export function sh(argv: string[], cwd?: string, env?: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolvePromise()
        : reject(new Error(`${argv.map(q).join(' ')} exited ${code}: ${stderr}`)),
    );
  });
}
