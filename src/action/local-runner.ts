import { exec } from '@actions/exec';
import type { CommandRunner } from '../pipeline/local-build.js';
import { lineSplitter } from '../pipeline/step.js';

/**
 * Runs one of toss.json's `build` commands through `@actions/exec` as `/bin/sh -c <command>`:
 * an argv, so the command line is toss.json's own text and every value toss adds travels in the
 * environment. Output is not echoed by exec itself: it goes line by line to the step's log group
 * (where workflow commands a build prints are shown, never obeyed), a last line without a newline
 * included. Stdin is closed (an empty input), so a command that would prompt fails instead of
 * waiting for the job's timeout. exec gives no status for a command killed by a signal: that
 * reads as 128, "killed".
 */
export const execCommand: CommandRunner = async (command, { cwd, env, onLine }) => {
  const out = lineSplitter(onLine);
  const err = lineSplitter(onLine);
  try {
    const code: number | null = await exec('/bin/sh', ['-c', command], {
      cwd,
      env,
      silent: true,
      ignoreReturnCode: true,
      input: Buffer.alloc(0),
      listeners: { stdout: out.push, stderr: err.push },
    });
    return code ?? 128;
  } finally {
    out.flush();
    err.flush();
  }
};
