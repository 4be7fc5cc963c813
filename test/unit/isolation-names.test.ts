/**
 * What one app may tear down, and where a branch's preview goes: `<app>-<env>` names that two apps
 * share (shop/api-staging and shop-api/staging) are refused to the one that does not own them,
 * and a branch never lands in an environment the configuration or the server gives to something
 * else.
 */
import { describe, expect, it } from 'vitest';
import {
  type RecordedEnvironment,
  routeBranchPreview,
  targetForBranch,
} from '../../src/action/branch-match.js';
import { type RunEvent, resolveRun } from '../../src/action/resolve.js';
import {
  branchToPreviewName,
  ENV_NAME_PATTERN,
  hashedPreviewName,
} from '../../src/config/env-name.js';
import { buildSiteFile } from '../../src/server/caddy-site.js';
import { findDrift } from '../../src/server/drift.js';
import { envPaths } from '../../src/server/paths.js';
import {
  claimNames,
  describeForeignNames,
  emptyRegistry,
  environmentUnits,
  foreignNames,
  managedBy,
  type Registry,
} from '../../src/server/registry.js';
import type { State } from '../../src/server/state.js';
import {
  branchPush,
  branchPushExample,
  deletePayload,
  example,
} from '../support/webhook-events.js';

const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n';

/** shop-api's staging, claimed as a deploy claims it. */
function withShopApiStaging(registry = emptyRegistry()): Registry {
  return claimNames(registry, 'shop-api', 'staging', {
    ports: [3004, 3005],
    hostNames: ['staging.shop-api.test'],
    units: environmentUnits(envPaths('shop-api', 'staging')),
  });
}

const SHOP_API_STAGING = { app: 'shop-api', environment: 'staging' };

describe('foreignNames', () => {
  const registry = withShopApiStaging();
  const site = buildSiteFile({
    hostName: 'staging.shop-api.test',
    port: 3004,
    tls: 'auto',
    app: 'shop-api',
    environment: 'staging',
  });
  // The first line buildUnitTemplate writes (systemd-unit.ts).
  const unit =
    '# Managed by toss (app shop-api, environment staging); rewritten on every deploy.\n[Unit]\n';
  const ownSite = buildSiteFile({
    hostName: 'api-staging.preview.shop.test',
    port: 3000,
    tls: 'auto',
    app: 'shop',
    environment: 'api-staging',
  });

  it.each<
    [
      string,
      Registry,
      string,
      string,
      Array<[string, string | null]>,
      Array<{ name: string; owner: { app: string; environment: string } }>,
    ]
  >([
    [
      'every shared name, from the registry',
      registry,
      'shop',
      'api-staging',
      [],
      [
        { name: 'toss-shop-api-staging@.service', owner: SHOP_API_STAGING },
        { name: 'toss-run-shop-api-staging.service', owner: SHOP_API_STAGING },
        { name: '/etc/caddy/toss/shop-api-staging.caddy', owner: SHOP_API_STAGING },
        { name: 'toss-wake-shop-api-staging@.socket', owner: SHOP_API_STAGING },
        { name: 'toss-wake-shop-api-staging@.service', owner: SHOP_API_STAGING },
      ],
    ],
    ['nothing to the owner itself', registry, 'shop-api', 'staging', [], []],
    ['nothing to another environment of the same app', registry, 'shop', 'staging', [], []],
    [
      "the registry's answer once, even when the file says so too",
      registry,
      'shop',
      'api-staging',
      [['/etc/caddy/toss/shop-api-staging.caddy', site]],
      [
        { name: 'toss-shop-api-staging@.service', owner: SHOP_API_STAGING },
        { name: 'toss-run-shop-api-staging.service', owner: SHOP_API_STAGING },
        { name: '/etc/caddy/toss/shop-api-staging.caddy', owner: SHOP_API_STAGING },
        { name: 'toss-wake-shop-api-staging@.socket', owner: SHOP_API_STAGING },
        { name: 'toss-wake-shop-api-staging@.service', owner: SHOP_API_STAGING },
      ],
    ],
    [
      'unregistered files by the owner their first line names',
      emptyRegistry(),
      'shop',
      'api-staging',
      [
        ['/etc/caddy/toss/shop-api-staging.caddy', site],
        ['/etc/systemd/system/toss-shop-api-staging@.service', unit],
      ],
      [
        { name: '/etc/caddy/toss/shop-api-staging.caddy', owner: SHOP_API_STAGING },
        { name: '/etc/systemd/system/toss-shop-api-staging@.service', owner: SHOP_API_STAGING },
      ],
    ],
    [
      "the app's own leftover file: nothing",
      emptyRegistry(),
      'shop',
      'api-staging',
      [['/etc/caddy/toss/shop-api-staging.caddy', ownSite]],
      [],
    ],
    [
      'a file without toss header, or missing: nothing',
      emptyRegistry(),
      'shop',
      'api-staging',
      [
        ['/etc/caddy/toss/shop-api-staging.caddy', 'example.com {\n\trespond hi\n}\n'],
        ['/etc/systemd/system/toss-shop-api-staging@.service', null],
      ],
      [],
    ],
  ])('%s', (_label, reg, app, environment, files, expected) => {
    expect(foreignNames(reg, app, environment, files)).toEqual(expected);
  });

  it('is described naming the owner of each name', () => {
    expect(describeForeignNames(foreignNames(registry, 'shop', 'api-staging').slice(0, 1))).toBe(
      'toss-shop-api-staging@.service belongs to app shop-api (environment staging)',
    );
  });

  it.each<[string | null, { app: string; environment: string } | undefined]>([
    [site, SHOP_API_STAGING],
    [unit, SHOP_API_STAGING],
    [
      '# Managed by toss (app shop, environment api-staging); rewritten on every deploy.\n',
      { app: 'shop', environment: 'api-staging' },
    ],
    ['# Managed by toss; rewritten on every deploy.\nexample.com {\n}\n', undefined],
    ['example.com {\n}\n# Managed by toss (app x, environment y)\n', undefined],
    [null, undefined],
  ])('managedBy reads the first line only: %j', (text, expected) => {
    expect(managedBy(text)).toEqual(expected);
  });
});

describe('branch previews never take a name used elsewhere', () => {
  it.each<[string, string[], boolean]>([
    ['staging', [], false],
    ['staging', ['production', 'staging'], true],
    ['qa', ['staging'], false],
    ['production', [], true],
    ['pr-42', [], true],
  ])('branch %j, names in branches %j: hashed %s', (branch, taken, hashed) => {
    const name = branchToPreviewName(branch, taken);
    expect(name === hashedPreviewName(branch)).toBe(hashed);
    expect(taken).not.toContain(name);
    expect(name).toMatch(ENV_NAME_PATTERN);
  });

  const BRANCHES = { main: 'production', develop: 'staging', '*': 'preview' };

  it('a branch named like a `branches` environment gets its own preview, on push and on delete', () => {
    const target = targetForBranch(BRANCHES, 'staging', 'main');
    expect(target).toMatchObject({ preview: true, environment: hashedPreviewName('staging') });
    expect(target!.environment).not.toBe('staging');

    const push = branchPush(branchPushExample(), 'staging');
    const pushed = resolveRun(
      { name: 'push', payload: push, ref: push.ref, sha: push.after } satisfies RunEvent,
      { command: 'auto', environment: '', sshKey: KEY },
      { branches: BRANCHES },
    );
    expect(pushed).toMatchObject({
      kind: 'deploy',
      environment: hashedPreviewName('staging'),
      branch: 'staging',
    });
    const deleted = resolveRun(
      {
        name: 'delete',
        payload: deletePayload(example('delete'), 'staging'),
        ref: 'refs/heads/main',
        sha: 'c'.repeat(40),
      },
      { command: 'auto', environment: '', sshKey: KEY },
      { branches: BRANCHES },
    );
    expect(deleted).toMatchObject({
      kind: 'remove',
      environment: hashedPreviewName('staging'),
      branch: 'staging',
    });
    // The environment develop deploys keeps its name.
    expect(targetForBranch(BRANCHES, 'develop', 'main')?.environment).toBe('staging');
  });

  const hashed = hashedPreviewName('staging');
  it.each<[string, Record<string, RecordedEnvironment>, string]>([
    ['nothing there: the plain name', {}, 'staging'],
    ['the branch owns the plain name', { staging: { branch: 'staging' } }, 'staging'],
    [
      'its own preview, as state records it now',
      { staging: { branch: 'staging', branchPreview: true } },
      'staging',
    ],
    [
      'deployed by name from a local branch called staging (toss deploy staging)',
      { staging: { branch: 'staging', branchPreview: false } },
      hashed,
    ],
    ['a named environment (no branch) has it', { staging: {} }, hashed],
    ['deployed by hand from another branch', { staging: { branch: 'main' } }, hashed],
    [
      'the branch already lives under its hashed name',
      { staging: { branch: 'main' }, [hashed]: { branch: 'staging' } },
      hashed,
    ],
    [
      'its hashed preview stays even once the plain name is free',
      { [hashed]: { branch: 'staging' } },
      hashed,
    ],
  ])('routeBranchPreview: %s', (_label, environments, expected) => {
    expect(routeBranchPreview('staging', 'staging', environments)).toBe(expected);
  });

  it('routeBranchPreview keeps an already hashed name', () => {
    expect(
      routeBranchPreview('feature/x', 'feature-x-217d2bf5', { 'feature-x-217d2bf5': {} }),
    ).toBe('feature-x-217d2bf5');
  });
});

describe('drift never reports another app’s names as this one’s', () => {
  const env = (over: Partial<State['environments'][string]> = {}) => ({
    ports: [3000, 3001] as [number, number],
    livePort: 3000,
    release: '20261128T000000Z-aaaa',
    releases: ['20261128T000000Z-aaaa'],
    commit: 'abc',
    deployedAt: '2026-11-28T00:00:00.000Z',
    by: 'alice',
    ...over,
  });
  const state: State = {
    version: 1,
    app: 'shop',
    environments: {
      production: env(),
      'api-staging': env({ ports: [3004, 3005], livePort: 3004 }),
    },
    dependencies: {},
    lock: null,
  };

  it('a stale state entry whose names another app owns: one warning naming the owner', () => {
    const warnings = findDrift({
      app: 'shop',
      state,
      registry: withShopApiStaging(),
      inventory: {
        unitTemplates: ['toss-shop-api-staging@.service', 'toss-shop-production@.service'],
        siteFiles: ['shop-api-staging.caddy', 'shop-production.caddy'],
        secretKeys: { production: 1, preview: 1 },
        // shop-api's instance, failed: not shop's to roll back.
        services: {
          'toss-shop-production@3000.service': 'active',
          'toss-shop-api-staging@3004.service': 'failed',
        },
      },
    });
    expect(warnings).toEqual([
      {
        kind: 'owned-elsewhere',
        environment: 'api-staging',
        message: expect.stringContaining(
          'toss-shop-api-staging@.service belongs to app shop-api (environment staging)',
        ),
        fix: 'toss remove api-staging',
      },
    ]);
  });
});
