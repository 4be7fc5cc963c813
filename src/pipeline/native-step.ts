/**
 * A tree toss.json's `build` made can hold native code (node_modules' compiled addons, a Go or
 * Rust binary) built for the machine that ran the build. Its ELF files are found while the
 * deploy connects, and compared with the server's processor and C library as soon as the server
 * is read: code the server cannot run fails the deploy before the release is placed, with the
 * reason, instead of as a crash loop the health check would catch later.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  findNativeFiles,
  type NativeFile,
  nativeMismatchError,
  PLATFORM_ARGV,
  parsePlatform,
  platformProblems,
} from '../artifact/native-check.js';
import type { TossConfig } from '../config/schema.js';
import { BUILT_EXCLUDES } from '../server/rsync.js';

/** The native files of the built tree, found in the background (undefined without `build`). */
export function scanBuiltTree(
  config: TossConfig,
  sourceDir: string,
): Promise<NativeFile[]> | undefined {
  if (config.build === undefined) return undefined;
  const ignored = tossignorePatterns(sourceDir);
  const excluded = [...BUILT_EXCLUDES, ...config.exclude, ...ignored].map(excludeMatcher);
  const scan = findNativeFiles(sourceDir, {
    skip: (path, isDirectory) => excluded.some((matches) => matches(path, isDirectory)),
  });
  // Awaited later; a failed scan must not be an unhandled rejection meanwhile.
  scan.catch(() => {});
  return scan;
}

/**
 * The plain exclude patterns of the tree's top-level `.tossignore`, which the upload leaves out
 * too (rsync reads it as a merge file); comments, blank lines and rsync's include rules are not
 * excludes. Nested `.tossignore` files are the upload's alone: a file they leave out is still
 * checked here, which can only refuse more, never let through what the server cannot run.
 */
function tossignorePatterns(sourceDir: string): string[] {
  let text: string;
  try {
    text = readFileSync(join(sourceDir, '.tossignore'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#') && !/^(?:!|\+ )/.test(line))
    .map((line) => line.replace(/^- /, ''));
}

/** The command that prints the server's platform, for the deploy's first read. */
export const platformArgv = (): string[] => [...PLATFORM_ARGV];

/** Throws when the built tree holds native code the server (as PLATFORM_ARGV printed it) cannot run. */
export async function assertRunsOnServer(
  scan: Promise<NativeFile[]> | undefined,
  platformOutput: string | undefined,
): Promise<void> {
  if (scan === undefined || platformOutput === undefined) return;
  const problems = platformProblems(await scan, parsePlatform(platformOutput));
  if (problems.length > 0) throw nativeMismatchError(problems);
}

/**
 * An upload exclude pattern as a test on a relative path, for the patterns people write: `*` and
 * `?` within a name, `**` across names, a leading `/` anchors at the root, a trailing `/` means
 * directories only, and a pattern without `/` matches a name at any depth (as rsync reads them).
 */
export function excludeMatcher(pattern: string): (path: string, isDirectory: boolean) => boolean {
  const dirOnly = pattern.endsWith('/');
  const body = dirOnly ? pattern.slice(0, -1) : pattern;
  const anchored = body.startsWith('/');
  const glob = anchored ? body.slice(1) : body;
  const source = glob
    .split(/(\*\*|\*|\?)/)
    .map((part) =>
      part === '**'
        ? '.*'
        : part === '*'
          ? '[^/]*'
          : part === '?'
            ? '[^/]'
            : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  const regex = new RegExp(anchored ? `^${source}$` : `(?:^|/)${source}$`);
  return (path, isDirectory) => (!dirOnly || isDirectory) && regex.test(path);
}
