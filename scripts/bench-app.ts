/**
 * The bench's app: 2,000 generated files of ~2 KB (20 × 10 × 10 folders) and a small server, in
 * a git checkout, as bench.ts and bench-fleet.ts deploy it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const WORDS =
  'const let return function import export async await if else for while new this value state config server request response error result item list map set key'.split(
    ' ',
  );

/** ~2 KB of source-like text, different for every file (so rsync cannot dedupe across files). */
export function fileText(seed: number): string {
  let x = (seed * 2654435761) >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  let text = `// file ${seed}\n`;
  while (text.length < 2000) {
    const words = Array.from({ length: 6 + (next() % 6) }, () => WORDS[next() % WORDS.length]);
    text += `${words.join(' ')} ${next().toString(36)};\n`;
  }
  return text;
}

const SERVER_JS = `// Bench app: answers every request on $PORT.
import { createServer } from 'node:http';
createServer((_req, res) => res.end('bench\\n')).listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
`;

/** The app in `dir`, its toss.json made of the defaults and `config`; committed once. */
export async function makeBenchApp(
  dir: string,
  app: string,
  config: Record<string, unknown>,
): Promise<{ dir: string; files: string[] }> {
  const files: string[] = [];
  let n = 0;
  for (let a = 0; a < 20; a++)
    for (let b = 0; b < 10; b++) {
      const sub = join(dir, 'src', `mod${String(a).padStart(2, '0')}`, `part${b}`);
      mkdirSync(sub, { recursive: true });
      for (let c = 0; c < 10; c++) {
        const file = join(sub, `file${c}.js`);
        writeFileSync(file, fileText(n++));
        files.push(file);
      }
    }
  const extra: Record<string, string> = {
    'server.js': SERVER_JS,
    'package.json': `${JSON.stringify({ name: app, private: true, type: 'module' }, null, 2)}\n`,
    'toss.json': `${JSON.stringify(
      {
        app,
        tls: 'internal',
        startCommand: 'node server.js',
        deployScript: ['true'],
        ...config,
      },
      null,
      2,
    )}\n`,
  };
  for (const [name, text] of Object.entries(extra)) {
    writeFileSync(join(dir, name), text);
    files.push(join(dir, name));
  }
  const git = (...a: string[]) =>
    run('git', ['-c', 'user.name=Bench', '-c', 'user.email=bench@example.com', ...a], { cwd: dir });
  await git('init', '-q', '-b', 'main');
  await git('remote', 'add', 'origin', `git@github.com:octo/${app}.git`);
  await git('add', '-A');
  await git('commit', '-qm', 'init');
  return { dir, files };
}

/** Every file new to the filesystem, as in a fresh CI checkout. */
export function touchAll(files: string[]): void {
  const now = new Date();
  for (const f of files) utimesSync(f, now, now);
}

/** One file changed and committed, as a one-file redeploy needs. */
export async function changeOneFile(dir: string, file: string, seed: number, mark: string) {
  writeFileSync(file, `${fileText(seed)}// change ${mark}\n`);
  await run(
    'git',
    ['-c', 'user.name=Bench', '-c', 'user.email=b@example.com', 'commit', '-qam', `change ${mark}`],
    { cwd: dir },
  );
}
