import { resolve } from 'node:path';
import * as core from '@actions/core';
import { loadConfig } from '../config/load.js';
import { parseServer } from '../config/server.js';
import { recoverInterruptedRun } from '../pipeline/recover.js';
import { readInputs } from './inputs.js';
import { PostState } from './post-state.js';
import { actionReporter } from './reporter.js';
import { readRunnerContext } from './runner.js';

/**
 * The post step: when main was cancelled mid-run, stop its long step, undo an unrecorded switch
 * and release its lock. The main step keeps the key in memory, so there is no key file to remove.
 */
export async function post(): Promise<void> {
  const saved = PostState.read();
  try {
    if (!saved.mainFinished && saved.lockToken && saved.environment) {
      core.info('toss: the main step did not finish; cleaning up on the server');
      const inputs = readInputs();
      const ctx = readRunnerContext();
      const config = await loadConfig(
        resolve(ctx.workspace, inputs.workingDirectory, inputs.config),
      );
      const server = parseServer(inputs.server || config.server);
      const recovered = await recoverInterruptedRun(
        {
          app: config.app,
          environment: saved.environment,
          token: saved.lockToken,
          tls: config.tls,
          login: {
            host: server.host,
            port: server.port,
            user: server.user,
            privateKey: inputs.sshKey,
            knownHosts: inputs.knownHosts,
          },
        },
        actionReporter().sink,
      );
      core.info(
        recovered
          ? 'toss: released the lock of the interrupted run'
          : 'toss: the lock had already moved on',
      );
    }
  } catch (error) {
    core.warning(`toss: cleanup after the interrupted run failed: ${(error as Error).message}`);
  }
}
