/**
 * `toss deploy` begins hashing the upload's file list (tree-hash.ts) from toss.json as written,
 * before the config is checked, while the rest of toss loads and logs in: the hash is what a
 * redeploy's upload waits for. Only a config whose `root` and `exclude` read plainly and that has
 * no `build` (whose tree only exists once it ran) is hashed early; the deploy takes the hash only
 * if the checked config gives the same directory and filters. The root goes through the same
 * check as the deploy's (resolveSourceDir: no symlink out of the checkout), and rsync only lists,
 * into an empty directory of its own.
 */
import { dirname } from 'node:path';
import { resolveSourceDir } from '../config/source-dir.js';
import { startTreeHash, type TreeHash } from '../pipeline/tree-hash.js';
import type { ConfigAsWritten } from './config-as-written.js';

/**
 * The hash begun for toss.json at `configPath` as `written` (config-as-written.ts); undefined
 * when it cannot be told.
 */
export async function hashBeforeChecks(
  configPath: string,
  written: ConfigAsWritten,
): Promise<TreeHash | undefined> {
  const json = await written;
  if (json === undefined) return undefined;
  const { root = '.', exclude = [], build } = json;
  if (build !== undefined || typeof root !== 'string' || !Array.isArray(exclude)) return undefined;
  if (!exclude.every((pattern) => typeof pattern === 'string')) return undefined;
  try {
    const sourceDir = resolveSourceDir(dirname(configPath), root, configPath);
    return startTreeHash(sourceDir, { excludes: exclude as string[], built: false });
  } catch {
    return undefined;
  }
}
