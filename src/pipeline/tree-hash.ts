/**
 * The upload's file list, hashed: the `files` part of a release's fingerprint (fingerprint.ts).
 * A local `rsync --dry-run --checksum` into an empty directory, with the upload's own filters, so
 * whatever the upload would leave out, the hash leaves out too.
 *
 * It is the longest thing a redeploy does on this machine before its upload can start (about
 * 0.2 s for 2,000 files on a busy 2-core machine), and it needs only the source directory and the
 * filters: the CLI starts it from toss.json as written, before the config is checked and while the
 * rest of toss loads and logs in (`startTreeHash`). The deploy then takes it only if the checked
 * config gives the same directory and filters (`treeHashOf`); otherwise it hashes again. Nothing
 * leaves this machine: rsync writes nothing, and the hash is only compared with the live release's.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filterArgs } from '../server/rsync.js';

/** What the upload's filters depend on. */
export interface TreeFilters {
  excludes: readonly string[];
  /** the tree is what toss.json's `build` left (node_modules and ignored files go up too) */
  built: boolean;
}

/** A hash begun for one source directory and its filters. */
export interface TreeHash extends TreeFilters {
  sourceDir: string;
  /** undefined when rsync could not make the list (then nothing is compared) */
  hash: Promise<string | undefined>;
}

/** Starts hashing `sourceDir`'s upload as `filters` make it. */
export function startTreeHash(sourceDir: string, filters: TreeFilters): TreeHash {
  const hash = hashUploadTree(sourceDir, filters);
  return { sourceDir, excludes: [...filters.excludes], built: filters.built, hash };
}

/** `early`'s hash when it was begun for this directory and these filters; otherwise a new one. */
export function treeHashOf(
  early: TreeHash | undefined,
  sourceDir: string,
  filters: TreeFilters,
): Promise<string | undefined> {
  const same =
    early !== undefined &&
    early.sourceDir === sourceDir &&
    early.built === filters.built &&
    early.excludes.length === filters.excludes.length &&
    early.excludes.every((pattern, i) => pattern === filters.excludes[i]);
  return same ? early.hash : hashUploadTree(sourceDir, filters);
}

/**
 * The hash of rsync's own list of the upload: every path, its permissions, a symlink's target and
 * each file's checksum; mtimes, which a fresh checkout sets anew, are not in it. Undefined when
 * rsync cannot make it.
 */
export async function hashUploadTree(
  sourceDir: string,
  filters: TreeFilters,
): Promise<string | undefined> {
  const empty = await mkdtemp(join(tmpdir(), 'toss-fingerprint-'));
  try {
    const source = sourceDir.endsWith('/') ? sourceDir : `${sourceDir}/`;
    const argv = [
      '-rlpn',
      '--checksum',
      ...filterArgs({ excludes: [...filters.excludes], built: filters.built }),
      // checksum, permissions, path and symlink target: one line per file or directory.
      '--out-format=%C %B %n%L',
      source,
      `${empty}/`,
    ];
    return await new Promise<string | undefined>((resolve) => {
      const hash = createHash('sha256');
      const child = spawn('rsync', argv, { stdio: ['ignore', 'pipe', 'ignore'] });
      child.stdout.on('data', (chunk: Buffer) => hash.update(chunk));
      child.on('error', () => resolve(undefined));
      child.on('close', (code) => resolve(code === 0 ? hash.digest('hex') : undefined));
    });
  } catch {
    return undefined;
  } finally {
    await rmdir(empty).catch(() => {});
  }
}
