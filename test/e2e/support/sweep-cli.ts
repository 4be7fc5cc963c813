/**
 * `toss sweep` as the CLI runs it, for a test to spawn like `toss` (support/app.ts) until the
 * command is registered in src/cli/main.ts: the command's own registration on a program of its
 * own, errors rendered as the CLI renders them.
 */
import '../../../src/dirname-shim.js';
import { Command } from 'commander';
import { registerSweep } from '../../../src/cli/commands/sweep.js';
import { renderError } from '../../../src/cli/output.js';

const program = new Command('toss').exitOverride();
registerSweep(program);
try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (error) {
  process.exitCode = renderError(error);
}
