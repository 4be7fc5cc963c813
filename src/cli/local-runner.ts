import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { CommandRunner } from '../pipeline/local-build.js';
import { lineSplitter } from '../pipeline/step.js';

/**
 * Runs one of toss.json's `build` commands with `/bin/sh -c`, the way a terminal would: the
 * command line is toss.json's own text, and nothing toss adds goes into it (values travel in the
 * environment). Its output comes back line by line; stdin is closed, so a command that would
 * prompt fails instead of waiting.
 */
export const runShellCommand: CommandRunner = (command, { cwd, env, onLine }) =>
  new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = lineSplitter(onLine);
    const err = lineSplitter(onLine);
    child.stdout.on('data', out.push);
    child.stderr.on('data', err.push);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      out.flush();
      err.flush();
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
