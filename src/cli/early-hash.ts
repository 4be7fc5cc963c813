/**
 * `toss deploy` begins hashing the upload's file list (tree-hash.ts) from toss.json as written,
 * before the config is checked, while the rest of toss loads and logs in: the hash is what a
 * redeploy's upload waits for. Only a config whose `root` and `exclude` read plainly and that has
 * no `build` (whose tree only exists once it ran) is hashed early; the deploy takes the hash only
 * if the checked config gives the same directory and filters. The root goes through the same
 * check as the deploy's (resolveSourceDir: no symlink out of the checkout), and rsync only lists,
 * into an empty directory of its own.
 */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { resolveSourceDir } from '../config/source-dir.js';
import { startTreeHash, type TreeHash } from '../pipeline/tree-hash.js';

/** The hash begun for toss.json at `configPath` as written; undefined when it cannot be told. */
export async function hashBeforeChecks(configPath: string): Promise<TreeHash | undefined> {
  try {
    const text = await readFile(configPath, 'utf8');
    // A byte-order mark (editors on Windows) is dropped, as the config loader does.
    const json: unknown = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
    const { root = '.', exclude = [], build } = json as Record<string, unknown>;
    if (build !== undefined || typeof root !== 'string' || !Array.isArray(exclude))
      return undefined;
    if (!exclude.every((pattern) => typeof pattern === 'string')) return undefined;
    const sourceDir = resolveSourceDir(dirname(configPath), root, configPath);
    return startTreeHash(sourceDir, { excludes: exclude as string[], built: false });
  } catch {
    return undefined;
  }
}
