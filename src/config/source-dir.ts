import { realpathSync, statSync } from 'node:fs';
import { relative, resolve, sep } from 'node:path';
import { ConfigError } from '../errors.js';
import { formatValue } from './errors-format.js';

/**
 * The directory a deploy uploads: toss.json's `root` inside `checkoutDir`, with every symlink
 * resolved. The schema already refuses "/" and ".." in `root`, but a symlink in the checkout
 * (`root: "web"` with `web -> $RUNNER_TEMP`) would still point rsync anywhere on the machine, key
 * files included: the real path must stay inside the checkout's real path. rsync then gets the
 * real directory, so it never follows a symlink at the top of the upload.
 */
export function resolveSourceDir(checkoutDir: string, root: string, configPath: string): string {
  const refuse = (why: string) =>
    new ConfigError([`${configPath}: root: ${formatValue(root)} ${why}`], {
      hint: 'set root to a directory of the repository itself (not a symlink leading out of it)',
    });
  let checkout: string;
  let source: string;
  try {
    checkout = realpathSync(checkoutDir);
    source = realpathSync(resolve(checkoutDir, root));
  } catch {
    throw refuse(`is not a directory of the checkout (${resolve(checkoutDir, root)})`);
  }
  const inside = relative(checkout, source);
  if (inside === '..' || inside.startsWith(`..${sep}`) || resolve(checkout, inside) !== source) {
    throw refuse(`leads out of the checkout (${checkout}) to ${source}`);
  }
  if (!statSync(source).isDirectory()) {
    throw refuse(`is not a directory of the checkout (${source})`);
  }
  return source;
}
