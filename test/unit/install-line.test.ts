/**
 * The install commands README.md shows, run the way a user's npm runs them, but offline: the
 * GitHub tarball they name is made here with `git archive` of the committed tree (GitHub serves
 * the same archive, under one top-level directory), and npm gets an empty cache, `--offline` and
 * an unreachable registry, so an install that needs anything besides the tarball fails here.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

/** README.md's block of install commands sits between these two comments. */
const BLOCK = /<!-- begin install\b[^>]*-->([\s\S]*?)<!-- end install -->/;
/** The only address the install commands may name: GitHub's tarball of a ref of this repository. */
const TARBALL_URL = /^https:\/\/github\.com\/([\w.-]+)\/([\w.-]+)\/tarball\/([\w.-]+)$/;

interface InstallLines {
  /** `npm install -g <url>`, as words */
  install: string[];
  /** `npx --package=<url> toss …`, as words */
  npx: string[];
  url: string;
}

/** The shell lines of the block, as words, without trailing comments. */
function blockCommands(readme: string): string[][] {
  const block = BLOCK.exec(readme)?.[1];
  if (block === undefined) {
    throw new Error('README.md has no <!-- begin install … --> … <!-- end install --> block');
  }
  const fence = /```sh\n([\s\S]*?)```/.exec(block)?.[1] ?? '';
  return fence
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '')
    .map((line) => line.split(/\s+/));
}

function installLines(readme: string): InstallLines {
  const commands = blockCommands(readme);
  const install = commands.filter((words) => words.slice(0, 3).join(' ') === 'npm install -g');
  const npx = commands.filter((words) => words[0] === 'npx');
  expect(install, 'one `npm install -g` line in the block').toHaveLength(1);
  expect(npx, 'one `npx` line in the block').toHaveLength(1);
  const url = install[0]![3] ?? '';
  return { install: install[0]!, npx: npx[0]!, url };
}

/** The words with the tarball's address replaced by a local file of the same content. */
function withTarball(words: string[], url: string, file: string): string[] {
  return words.map((word) => word.split(url).join(file));
}

let readme: string;
let lines: InstallLines;
let work: string;
let tarball: string;

/**
 * A fresh machine's npm: no user or global npmrc, an empty cache, and no way to the network.
 * PATH has this Node's directory (npm's and the bundle's `#!/usr/bin/env node` need it) and
 * nothing of npm's own environment leaks in from a surrounding `npm test`.
 */
function freshNpmEnv(name: string, extraPath: string[] = []): NodeJS.ProcessEnv {
  const home = join(work, name, 'home');
  mkdirSync(home, { recursive: true });
  return {
    PATH: [...extraPath, dirname(process.execPath), process.env.PATH ?? ''].join(':'),
    HOME: home,
    npm_config_userconfig: join(home, '.npmrc'),
    npm_config_globalconfig: join(home, 'global-npmrc'),
    npm_config_cache: join(work, name, 'cache'),
    npm_config_offline: 'true',
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_update_notifier: 'false',
  };
}

beforeAll(async () => {
  readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  lines = installLines(readme);
  work = mkdtempSync(join(tmpdir(), 'toss-install-line-'));
  // GitHub names the archive's one directory <owner>-<repo>-<short commit>; npm strips it.
  const [, owner, repo] = TARBALL_URL.exec(lines.url) ?? [];
  const { stdout: commit } = await run('git', ['rev-parse', '--short=7', 'HEAD'], { cwd: ROOT });
  const top = `${owner ?? 'owner'}-${repo ?? 'repo'}-${commit.trim()}`;
  tarball = join(work, `${top}.tar.gz`);
  await run('git', ['archive', '--format=tar.gz', `--prefix=${top}/`, '-o', tarball, 'HEAD'], {
    cwd: ROOT,
  });
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const committedVersion = async (): Promise<string> => {
  const { stdout } = await run('git', ['show', 'HEAD:package.json'], { cwd: ROOT });
  return JSON.parse(stdout).version;
};

describe("README.md's install line", () => {
  it("names this repository's GitHub tarball at the action's ref, not the npm name toss", () => {
    const match = TARBALL_URL.exec(lines.url);
    expect(match, `${lines.url} is not https://github.com/<owner>/<repo>/tarball/<ref>`).not.toBe(
      null,
    );
    const [, owner, repo, ref] = match!;
    expect(lines.install).toEqual(['npm', 'install', '-g', lines.url]);
    // The same repository and ref the workflow's `uses:` line takes the action from.
    expect(readme).toContain(`uses: ${owner}/${repo}@${ref}`);
    expect(lines.npx.slice(0, 3)).toEqual(['npx', `--package=${lines.url}`, 'toss']);
  });

  it.concurrent('installs toss globally from the tarball alone and puts it on PATH', async () => {
    const prefix = join(work, 'global', 'prefix');
    const [npm, ...args] = withTarball(lines.install, lines.url, tarball);
    await run(npm!, [...args, '--prefix', prefix], {
      cwd: work,
      env: freshNpmEnv('global'),
    });
    expect(existsSync(join(prefix, 'bin', 'toss'))).toBe(true);
    // Nothing but the package itself: the bundle needs no node_modules.
    expect(existsSync(join(prefix, 'lib', 'node_modules', 'toss', 'node_modules'))).toBe(false);

    const onPath = { cwd: work, env: freshNpmEnv('global', [join(prefix, 'bin')]) };
    const { stdout: version } = await run('toss', ['--version'], onPath);
    expect(version.trim()).toBe(await committedVersion());
    const { stdout: help } = await run('toss', ['init', '--help'], onPath);
    expect(help).toContain('Usage: toss init');
  }, 90_000);

  it.concurrent('runs toss through npx without installing it', async () => {
    const [npx, ...args] = withTarball(lines.npx, lines.url, tarball);
    // The README's command asks questions; --help shows it starts without answering any.
    const { stdout } = await run(npx!, [...args, '--help'], {
      cwd: work,
      env: freshNpmEnv('npx'),
    });
    expect(stdout).toContain(`Usage: toss ${lines.npx.slice(3).join(' ')}`.trim());
  }, 90_000);
});
