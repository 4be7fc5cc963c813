import { TossError } from '../errors.js';
import { readInputs } from './inputs.js';

/** The action's main step. */
export async function run(): Promise<void> {
  readInputs();
  // Event resolution and the deploy pipeline arrive with the action issue; fail honestly until then.
  throw new TossError('toss/deploy: the action does not deploy yet in this build');
}
