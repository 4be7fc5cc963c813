/**
 * The sweep: which previews production's `previews.ttl` makes go (pull requests' and branches'
 * previews, never production nor an environment deployed by name, never the one just deployed),
 * and the sweep against the recording fake server: each removal says why.
 */
import { describe, expect, it } from 'vitest';
import { previewsSchema } from '../../src/config/schema.js';
import {
  describeAge,
  type ExpiredPreview,
  expiredPreviews,
  isDisposablePreview,
  sweepClosedPreviews,
} from '../../src/pipeline/sweep.js';
import type { Policy } from '../../src/server/policy.js';
import { emptyRegistry } from '../../src/server/registry.js';
import { type EnvironmentState, emptyState, type State } from '../../src/server/state.js';
import { ACTOR, eventLog, FakeHost, LOGIN, testConfig } from '../support/fake-server.js';

const NOW = new Date('2026-12-01T12:00:00Z');
const DAY = 86_400_000;

function envState(daysAgo: number, fields: Partial<EnvironmentState> = {}): EnvironmentState {
  return {
    ports: [3000, 3001],
    livePort: 3000,
    release: '20261101T000000Z-aaaa',
    releases: ['20261101T000000Z-aaaa'],
    commit: 'c'.repeat(40),
    deployedAt: new Date(NOW.getTime() - daysAgo * DAY).toISOString(),
    by: 'alice',
    ...fields,
  };
}

function policy(ttl: string | undefined): Policy {
  return {
    release: '20261101T000000Z-aaaa',
    recordedAt: NOW.toISOString(),
    maxPreviews: 20,
    previews: previewsSchema.parse(ttl === undefined ? {} : { ttl }),
  };
}

function stateWith(ttl: string | undefined): State {
  const state = emptyState('shop');
  state.environments = {
    production: envState(100),
    'pr-3': envState(20, { pr: 3 }),
    'pr-4': envState(2, { pr: 4 }),
    'pr-5': envState(15),
    staging: envState(60, { branch: 'staging', branchPreview: false }),
    'feature-x': envState(30, { branch: 'feature/x', branchPreview: true }),
    'old-branch': envState(30, { branch: 'old' }),
  };
  state.policy = policy(ttl);
  return state;
}

describe('expiredPreviews', () => {
  it("takes pull requests' and branches' previews past the ttl, oldest first", () => {
    const names = (list: ExpiredPreview[]) => list.map((p) => p.environment);
    expect(names(expiredPreviews(stateWith('14d'), NOW))).toEqual(['feature-x', 'pr-3', 'pr-5']);
    expect(expiredPreviews(stateWith('14d'), NOW)[1]).toEqual({
      environment: 'pr-3',
      deployedAt: '2026-11-11T12:00:00.000Z',
      ageSeconds: 20 * 86_400,
    });
    expect(names(expiredPreviews(stateWith('1d'), NOW))).toEqual([
      'feature-x',
      'pr-3',
      'pr-5',
      'pr-4',
    ]);
    expect(names(expiredPreviews(stateWith('1d'), NOW, 'pr-4'))).not.toContain('pr-4');
  });

  it('takes none without a recorded ttl, or with no policy at all', () => {
    expect(expiredPreviews(stateWith(undefined), NOW)).toEqual([]);
    const noPolicy = stateWith('1d');
    delete noPolicy.policy;
    expect(expiredPreviews(noPolicy, NOW)).toEqual([]);
  });

  it('keeps a preview exactly at its ttl', () => {
    const state = stateWith('20d');
    expect(expiredPreviews(state, NOW).map((p) => p.environment)).toEqual(['feature-x']);
  });

  it('counts pull request and branch previews as disposable, named environments not', () => {
    expect(isDisposablePreview('pr-9', envState(1))).toBe(true);
    expect(isDisposablePreview('api-staging', envState(1, { pr: 7 }))).toBe(true);
    expect(isDisposablePreview('feature-x', envState(1, { branchPreview: true }))).toBe(true);
    expect(isDisposablePreview('staging', envState(1))).toBe(false);
    expect(isDisposablePreview('old-branch', envState(1, { branch: 'old' }))).toBe(false);
    expect(isDisposablePreview('production', envState(1, { pr: 1 }))).toBe(false);
  });

  it('says ages as people do', () => {
    expect(describeAge(20 * 86_400)).toBe('20 days');
    expect(describeAge(86_400 + 5)).toBe('24 hours');
    expect(describeAge(150)).toBe('2 minutes');
    expect(describeAge(1)).toBe('1 second');
    expect(describeAge(45)).toBe('45 seconds');
  });
});

describe('sweep against the fake server', () => {
  it('removes expired previews and closed pull requests, saying why each goes', async () => {
    const host = new FakeHost();
    host.setState('shop', stateWith('14d'));
    host.setRegistry(emptyRegistry());
    const log = eventLog();
    const asked: number[] = [];
    const removed = await sweepClosedPreviews(
      {
        config: testConfig(),
        login: LOGIN,
        actor: ACTOR,
        lockWaitSeconds: 0,
        connect: host.connect,
        now: NOW,
        isClosed: async (pr) => {
          asked.push(pr);
          return pr === 4;
        },
      },
      log.sink,
    );
    expect(removed).toEqual(['feature-x', 'pr-3', 'pr-5', 'pr-4']);
    // GitHub is asked only about pull requests the ttl did not already take.
    expect(asked).toEqual([4]);
    const notices = log.events.flatMap((e) => (e.type === 'notice' ? [e.message] : []));
    expect(notices.filter((m) => m.startsWith('sweep:'))).toEqual([
      'sweep: feature-x was last deployed 30 days ago (2026-11-01T12:00:00.000Z), longer than previews.ttl (14d), removing feature-x',
      'sweep: pr-3 was last deployed 20 days ago (2026-11-11T12:00:00.000Z), longer than previews.ttl (14d), removing pr-3',
      'sweep: pr-5 was last deployed 15 days ago (2026-11-16T12:00:00.000Z), longer than previews.ttl (14d), removing pr-5',
      'sweep: pull request #4 is closed, removing pr-4',
    ]);
    expect(Object.keys(host.state('shop')?.environments ?? {}).sort()).toEqual([
      'old-branch',
      'production',
      'staging',
    ]);
    expect(host.unknown).toEqual([]);
  });
});
