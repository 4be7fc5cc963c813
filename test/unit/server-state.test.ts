import { describe, expect, it } from 'vitest';
import { createLock } from '../../src/server/lock.js';
import { checkOrigin, normalizeOrigin } from '../../src/server/origin.js';
import {
  clearLock,
  type DeployRecord,
  emptyState,
  parseState,
  pendingDependencies,
  previewsByAge,
  recordDependency,
  recordDeploy,
  recordPruned,
  recordRemove,
  serializeState,
  setLock,
} from '../../src/server/state.js';

const R1 = '20261101T100000Z-0001';
const R2 = '20261102T100000Z-0002';
const R3 = '20261103T100000Z-0003';

describe('normalizeOrigin', () => {
  it.each([
    'git@github.com:o/r.git',
    'git@github.com:o/r',
    'git@GitHub.com:O/R.git',
    'https://github.com/o/r',
    'https://github.com/o/r.git',
    'https://github.com/o/r/',
    'https://github.com/o/r.git/',
    'https://x-access-token:ghs_secret@github.com/o/r.git',
    'ssh://git@github.com/o/r.git',
    'ssh://git@github.com:22/o/r.git',
    'git+ssh://git@github.com/o/r',
    'http://GITHUB.COM/o/r',
    '  https://github.com/o/r\n',
  ])('%j is github.com/o/r', (url) => {
    expect(normalizeOrigin(url)).toBe('github.com/o/r');
  });

  it.each([
    ['git@gitlab.example.com:group/sub/repo.git', 'gitlab.example.com/group/sub/repo'],
    ['/home/me/repo', 'home/me/repo'],
    ['file:///home/me/repo.git', 'home/me/repo'],
    ['https://github.com/o/other', 'github.com/o/other'],
  ])('%j → %s', (url, expected) => {
    expect(normalizeOrigin(url)).toBe(expected);
  });

  it('never keeps credentials', () => {
    expect(normalizeOrigin('https://user:pass@example.com/o/r')).not.toContain('pass');
  });

  it('refuses an empty origin', () => {
    expect(() => normalizeOrigin('')).toThrow(/no origin/);
  });
});

describe('checkOrigin', () => {
  it('accepts the same repository written another way, and a first deploy', () => {
    expect(() => checkOrigin('shop', 'github.com/o/r', 'git@github.com:o/r.git')).not.toThrow();
    expect(() => checkOrigin('shop', undefined, 'git@github.com:o/r.git')).not.toThrow();
  });

  it('refuses another repository with the same app name', () => {
    expect(() => checkOrigin('shop', 'github.com/o/r', 'https://github.com/x/r')).toThrow(
      'app "shop" on this server is deployed from github.com/o/r, not from https://github.com/x/r',
    );
  });
});

function deploy(release: string, extra: Partial<DeployRecord> = {}): DeployRecord {
  return {
    release,
    ports: [3000, 3001],
    livePort: 3000,
    commit: 'abc1234',
    deployedAt: '2026-11-27T22:30:15.000Z',
    by: 'alice',
    ...extra,
  };
}

describe('state transitions', () => {
  const base = emptyState('shop', 'github.com/o/r');

  it('starts empty', () => {
    expect(base).toEqual({
      version: 1,
      app: 'shop',
      origin: 'github.com/o/r',
      environments: {},
      dependencies: {},
      lock: null,
    });
  });

  it('records deploys, keeping the previous release as the rollback target', () => {
    const s1 = recordDeploy(base, 'production', deploy(R1, { runUrl: 'https://ci/1' }));
    expect(s1.environments.production).toEqual({
      ports: [3000, 3001],
      livePort: 3000,
      release: R1,
      releases: [R1],
      commit: 'abc1234',
      commits: { [R1]: 'abc1234' },
      deployedAt: '2026-11-27T22:30:15.000Z',
      by: 'alice',
      runUrl: 'https://ci/1',
    });
    const s2 = recordDeploy(s1, 'production', deploy(R2, { livePort: 3001 }));
    expect(s2.environments.production).toMatchObject({
      release: R2,
      previousRelease: R1,
      releases: [R1, R2],
      livePort: 3001,
    });
    expect(s2.environments.production?.runUrl).toBeUndefined();
    // Rollback to R1: R2 becomes the previous one.
    const s3 = recordDeploy(s2, 'production', deploy(R1));
    expect(s3.environments.production).toMatchObject({ release: R1, previousRelease: R2 });
    // Re-recording the live release keeps the rollback target.
    const s4 = recordDeploy(s3, 'production', deploy(R1));
    expect(s4.environments.production?.previousRelease).toBe(R2);
    expect(s1.environments.production?.release).toBe(R1);
  });

  it('records the release that really served before, when a crashed run left it unrecorded', () => {
    const s1 = recordDeploy(base, 'production', deploy(R1));
    // R2 went live, then its run died before recording it; R3 now replaces R2, not R1.
    const R3 = '20261127T230000Z-cccc';
    const s3 = recordDeploy(s1, 'production', deploy(R3, { replaced: R2 }));
    expect(s3.environments.production).toMatchObject({
      release: R3,
      previousRelease: R2,
      releases: [R1, R2, R3],
    });
    expect(s3.environments.production?.commits).toEqual({ [R1]: 'abc1234', [R3]: 'abc1234' });
  });

  it('records branch and pull request of previews', () => {
    const s = recordDeploy(base, 'pr-42', deploy(R1, { pr: 42, branch: 'feature/x' }));
    expect(s.environments['pr-42']).toMatchObject({ pr: 42, branch: 'feature/x' });
  });

  it('drops pruned releases but never the live or previous one', () => {
    let s = recordDeploy(base, 'production', deploy(R1));
    s = recordDeploy(s, 'production', deploy(R2));
    s = recordDeploy(s, 'production', deploy(R3));
    s = recordPruned(s, 'production', [R1, R2, R3]);
    expect(s.environments.production?.releases).toEqual([R2, R3]);
    // The commit of each kept release stays known, so a rollback can name it.
    expect(Object.keys(s.environments.production?.commits ?? {}).sort()).toEqual([R2, R3]);
    expect(recordPruned(s, 'nope', [R1])).toBe(s);
  });

  it('removes an environment', () => {
    const s = recordDeploy(base, 'pr-1', deploy(R1));
    expect(recordRemove(s, 'pr-1').environments).toEqual({});
    expect(recordRemove(base, 'pr-1')).toEqual(base);
  });

  it('tracks dependencies, re-running changed commands', () => {
    const s = recordDependency(base, 'ffmpeg', 'apt-get install -y ffmpeg', '2026-11-27T22:30:15Z');
    expect(s.dependencies).toEqual({
      ffmpeg: { command: 'apt-get install -y ffmpeg', appliedAt: '2026-11-27T22:30:15Z' },
    });
    expect(
      pendingDependencies(s, {
        ffmpeg: 'apt-get install -y ffmpeg',
        sqlite: 'apt-get install -y sqlite3',
      }),
    ).toEqual(['sqlite']);
    expect(pendingDependencies(s, { ffmpeg: 'apt-get install -y ffmpeg-full' })).toEqual([
      'ffmpeg',
    ]);
  });

  it('sets and clears the lock; release only with the holder’s token', () => {
    const lock = createLock({
      environment: 'production',
      token: 'a'.repeat(32),
      host: 'ci',
      machine: 'c'.repeat(32),
      pid: 1,
      by: 'alice',
      now: new Date('2026-11-27T22:30:15Z'),
    });
    const locked = setLock(base, lock);
    expect(locked.lock).toEqual(lock);
    expect(clearLock(locked).lock).toBeNull();
  });

  it('lists previews oldest first', () => {
    let s = recordDeploy(base, 'pr-2', deploy(R1, { deployedAt: '2026-11-03T00:00:00Z' }));
    s = recordDeploy(s, 'production', deploy(R1, { deployedAt: '2026-11-01T00:00:00Z' }));
    s = recordDeploy(s, 'pr-1', deploy(R1, { deployedAt: '2026-11-02T00:00:00Z' }));
    expect(previewsByAge(s).map(([name]) => name)).toEqual(['pr-1', 'pr-2']);
  });
});

describe('state.json', () => {
  it('round-trips through its text', () => {
    const s = recordDeploy(emptyState('shop'), 'production', deploy(R1));
    const text = serializeState(s);
    expect(text.endsWith('}\n')).toBe(true);
    expect(parseState(text)).toEqual(s);
    expect(serializeState(parseState(text) as never)).toBe(text);
  });

  it('fills in a missing lock and dependencies', () => {
    expect(parseState('{"version": 1, "app": "shop", "environments": {}}')).toEqual(
      emptyState('shop'),
    );
  });

  it('reads a missing file as no state', () => {
    expect(parseState(null)).toBeUndefined();
  });

  it.each([
    ['{', /state.json is not valid JSON/],
    ['{"version": 2}', /written by a newer toss \(version 2\)/],
    ['{"version": 1, "app": "shop"}', /environments/],
    [
      JSON.stringify({
        ...emptyState('shop'),
        environments: { production: { ...deploy('../../etc'), releases: [] } },
      }),
      /environments.production.release: expected a release id/,
    ],
  ])('refuses %s', (text, message) => {
    expect(() => parseState(text)).toThrow(message);
  });

  it('refuses to write an invalid state', () => {
    expect(() => serializeState({ ...emptyState('shop'), version: 2 as 1 })).toThrow();
  });
});
