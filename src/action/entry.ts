import * as core from '@actions/core';
import { run } from './main.js';
import { post } from './post.js';

/** One bundle runs both steps, like actions/checkout: main, then post with the state main saved. */
export async function entry(): Promise<void> {
  const isPost = core.getState('isPost') === 'true';
  try {
    if (isPost) {
      await post();
    } else {
      core.saveState('isPost', 'true');
      await run();
    }
  } catch (error) {
    core.setFailed(error instanceof Error ? error.message : String(error));
  }
  // Dangling handles (keepalive timers, sockets) must never keep a runner waiting.
  process.exit(process.exitCode ?? 0);
}
