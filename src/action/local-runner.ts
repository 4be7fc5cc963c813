import { exec } from '@actions/exec';
import type { CommandRunner } from '../pipeline/local-build.js';

/**
 * Runs one of toss.json's `build` commands through `@actions/exec` as `/bin/sh -c <command>`:
 * an argv, so the command line is toss.json's own text and every value toss adds travels in the
 * environment. Output is not echoed by exec itself: it goes line by line to the step's log group
 * (where workflow commands a build prints are shown, never obeyed).
 */
export const execCommand: CommandRunner = (command, { cwd, env, onLine }) =>
  exec('/bin/sh', ['-c', command], {
    cwd,
    env,
    silent: true,
    ignoreReturnCode: true,
    listeners: { stdline: onLine, errline: onLine },
  });
