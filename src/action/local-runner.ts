import { exec } from '@actions/exec';
import type { CommandRunner } from '../pipeline/local-build.js';
import { lineSplitter } from '../pipeline/step.js';

/**
 * Runs one of toss.json's `build` commands through `@actions/exec` as `/bin/sh -c <command>`:
 * an argv, so the command line is toss.json's own text and every value toss adds travels in the
 * environment. Output is not echoed by exec itself: it goes line by line to the step's log group
 * (where workflow commands a build prints are shown, never obeyed), a last line without a newline
 * included. The command reads /dev/null as stdin, so one that would prompt fails instead of
 * waiting for the job's timeout (exec keeps a pipe to stdin open, and its `input` option writes
 * after a fast command may have exited, an EPIPE it does not handle). exec gives no status for a
 * command killed by a signal: that reads as 128, "killed".
 */
export const execCommand: CommandRunner = async (command, { cwd, env, onLine }) => {
  const out = lineSplitter(onLine);
  const err = lineSplitter(onLine);
  try {
    const code: number | null = await exec('/bin/sh', ['-c', `exec </dev/null\n${command}`], {
      cwd,
      env,
      silent: true,
      ignoreReturnCode: true,
      listeners: { stdout: out.push, stderr: err.push },
    });
    return code ?? 128;
  } finally {
    out.flush();
    err.flush();
  }
};
