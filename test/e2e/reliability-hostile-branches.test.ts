/**
 * Full deploys of 20 generated hostile branch names that git accepts:
 * the checkout is switched to each, the preview named by branchToPreviewName is deployed with the
 * real CLI against one real host (the branch recorded in state byte for byte, the site served
 * over HTTPS), then removed. The canary file every payload would create never appears.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { branchToPreviewName } from '../../src/config/env-name.js';
import { branchLike } from '../support/hostile.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, fetchSite, makeApp, sslipName, toss } from './support/app.js';
import { readStateOn, reportRow } from './support/reliability.js';

const run = promisify(execFile);
const CASES = 20;
const CANARY = `/tmp/canary-${randomBytes(6).toString('hex')}`;
const APP = 'branchy';
/** `${IFS}`, the shell's word separator: a payload without spaces, which git allows. */
const IFS = '\u0024{IFS}';
let host: TestHost;
let app: AppCheckout;
const row = {
  scenario: 'hostile branch names → previews (full deploy + remove)',
  runs: 0,
  survived: 0,
  lost: 0,
};

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, { app: APP, maxPreviews: 100 });
});
afterAll(async () => {
  reportRow(row);
  await host?.shutdown();
});

/** Whether git itself accepts `name` as a branch name. */
async function gitAccepts(name: string): Promise<boolean> {
  if (name.includes('\0') || name.startsWith('-')) return false;
  try {
    await run('git', ['check-ref-format', '--branch', name]);
    return true;
  } catch {
    return false;
  }
}

describe('hostile branch names deployed as previews', () => {
  it(`${CASES} branches: slugged, deployed, recorded byte for byte, removed; nothing executed`, async () => {
    const branches: string[] = [];
    const names = new Set<string>();
    for (const candidate of fc.sample(branchLike(CANARY), { numRuns: 2000, seed: 12 })) {
      if (branches.length === CASES) break;
      if (branches.includes(candidate) || !(await gitAccepts(candidate))) continue;
      branches.push(candidate);
    }
    // Make sure the classics are in: payloads git allows in a branch name.
    branches.splice(0, 3, `$(touch${IFS}${CANARY})`, `x;touch${IFS}${CANARY};`, "feat/it's-`id`");
    expect(branches).toHaveLength(CASES);
    for (const branch of branches) {
      row.runs++;
      const env = branchToPreviewName(branch);
      expect(names.has(env), `${branch} and another branch share ${env}`).toBe(false);
      names.add(env);
      await run('git', ['checkout', '-q', '-B', branch], { cwd: app.dir });
      const deployed = await toss(host, ['deploy', env], { cwd: app.dir });
      expect(deployed.code, `${JSON.stringify(branch)} → ${env}\n${deployed.output}`).toBe(0);
      const state = await readStateOn(host, APP);
      expect(state.environments[env]?.branch).toBe(branch);
      expect((await fetchSite(host, sslipName(host, APP, env))).status).toBe(200);
      // Every 4th preview is removed again (removal with a hostile-born name); the others stay,
      // side by side on their own ports.
      if (row.runs % 4 === 0) {
        const removed = await toss(host, ['remove', env], { cwd: app.dir });
        expect(removed.code, removed.output).toBe(0);
      }
      // Back to main, the branch deleted: the next name may be a prefix of this one (a/b vs a).
      await run('git', ['checkout', '-q', 'main'], { cwd: app.dir });
      await run('git', ['branch', '-q', '-D', branch], { cwd: app.dir });
      const canary = await host.exec(['sh', '-c', 'ls /tmp/canary-* 2>/dev/null | grep -q .']);
      expect(canary.code, `a canary file was created (branch ${JSON.stringify(branch)})`).toBe(1);
      row.survived++;
    }
    row.lost = row.runs - row.survived;
  }, 900_000);
});
