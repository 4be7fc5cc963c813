import { describe, expect, it } from 'vitest';
import { commentBody, idleTime } from '../../src/action/comment.js';

const base = {
  app: 'shop',
  environment: 'pr-4',
  at: new Date('2026-11-29T10:00:00Z'),
  url: 'https://pr-4.preview.shop.com/',
  release: '20261129T100000Z-ab12',
};

describe('the PR comment of a sleeping preview', () => {
  it('says when it sleeps and that the next request wakes it', () => {
    const body = commentBody({ ...base, status: 'live', sleepAfter: 900 });
    expect(body).toContain(
      '| Sleeps | after 15 min without a request; the next request wakes it (it waits for the app) |',
    );
  });

  it('says nothing of sleep for a preview that never sleeps, or one that failed or went', () => {
    expect(commentBody({ ...base, status: 'live' })).not.toContain('Sleeps');
    expect(commentBody({ ...base, status: 'failed', sleepAfter: 900 })).not.toContain('Sleeps');
    expect(commentBody({ ...base, status: 'removed', sleepAfter: 900 })).not.toContain('Sleeps');
  });

  it.each([
    [45, '45 s'],
    [600, '10 min'],
    [7200, '2 h'],
    [90, '90 s'],
  ])('idle time %i s reads %s', (seconds, text) => {
    expect(idleTime(seconds)).toBe(text);
  });
});

describe('the PR comment of a preview with a database', () => {
  it('names the database, what it started from and how to open it', () => {
    const database = { name: 'toss_shop_pr-4', from: 'a copy of db/seed.sql' };
    const body = commentBody({ ...base, status: 'live', database });
    expect(body).toContain(
      '| Database | `toss_shop_pr-4` (PostgreSQL; a copy of db/seed.sql; `toss db shell pr-4`; dropped with the preview) |',
    );
    const kept = commentBody({ ...base, status: 'live', database: { ...database, from: 'kept' } });
    expect(kept).toContain('its own data, kept across deploys');
    expect(commentBody({ ...base, status: 'failed', database })).not.toContain('Database');
  });
});

describe('the PR comment of a deploy that changed nothing', () => {
  it('says the release still live is unchanged and nothing was redeployed', () => {
    const body = commentBody({ ...base, status: 'live', unchanged: true });
    expect(body).toContain('**[https://pr-4.preview.shop.com/](https://pr-4.preview.shop.com/)**');
    expect(body).toContain(
      '| Release | `20261129T100000Z-ab12`, unchanged: same files, toss.json and variables, so nothing was redeployed |',
    );
    expect(commentBody({ ...base, status: 'live' })).not.toContain('unchanged');
  });
});
