import * as core from '@actions/core';

/** What main hands the post step (core.saveState), read back there with core.getState. */
export const PostState = {
  lockAcquired(token: string, environment: string): void {
    core.saveState('lockToken', token);
    core.saveState('environment', environment);
  },
  mainFinished(): void {
    core.saveState('mainFinished', 'true');
  },
  read() {
    return {
      lockToken: core.getState('lockToken'),
      environment: core.getState('environment'),
      mainFinished: core.getState('mainFinished') === 'true',
    };
  },
};
