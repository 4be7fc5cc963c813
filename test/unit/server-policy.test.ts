import { describe, expect, it } from 'vitest';
import { type TossConfig, tossConfigSchema } from '../../src/config/schema.js';
import {
  environmentLimits,
  PREVIEW_BUILD_TIMEOUT,
  PRODUCTION_BUILD_TIMEOUT,
  policyFromConfig,
  policyNotice,
  sleepSecondsOf,
  trustedConfig,
} from '../../src/server/policy.js';
import { emptyState, parseState, recordPolicy, serializeState } from '../../src/server/state.js';

const HASH = '$2a$14$ajq8Q7fbtFRQvXpdCq7Jcuy.Rx1h/L4J60Otx.gyNLbAYctGMJ9tK';
const base = {
  app: 'shop',
  server: 'root@203.0.113.10',
  startCommand: 'node server.js',
  deployScript: ['npm ci'],
};
const config = (extra: Record<string, unknown> = {}): TossConfig =>
  tossConfigSchema.parse({ ...base, ...extra });

const production = config({
  domain: 'shop.example.com',
  previewDomain: 'preview.shop.example.com',
  previewAuth: { user: 'team', passwordHash: HASH },
  maxPreviews: 3,
  resources: { memory: '1G', previews: { memory: '256M', cpu: '50%', buildTimeout: 120 } },
});
const policy = policyFromConfig(production, '20261127T223015Z-3fa9', new Date(0));
// What a pull request's toss.json asks for.
const greedy = config({
  domain: 'evil.example.net',
  previewDomain: 'evil.example.net',
  maxPreviews: 1000,
  resources: { memory: 'infinity', previews: { memory: 'infinity', buildTimeout: 86_400 } },
  healthCheck: { path: '/up', timeout: 600 },
});

describe('policy', () => {
  it('survives state.json', () => {
    const state = recordPolicy(emptyState('shop'), policy);
    expect(parseState(serializeState(state))?.policy).toEqual(policy);
  });

  it("gives a preview production's recorded limits, whatever its toss.json says", () => {
    const trusted = trustedConfig(greedy, 'pr-42', policy);
    expect(trusted.config.domain).toBe('shop.example.com');
    expect(trusted.config.previewDomain).toBe('preview.shop.example.com');
    expect(trusted.config.previewAuth).toEqual({ user: 'team', passwordHash: HASH });
    expect(trusted.config.maxPreviews).toBe(3);
    expect(environmentLimits(trusted.config, 'pr-42')).toEqual({
      memory: '256M',
      cpu: '50%',
      buildTimeout: 120,
    });
    expect(trusted.config.healthCheck?.timeout).toBe(60);
    expect(trusted.overridden).toEqual([
      'domain',
      'previewDomain',
      'previewAuth',
      'maxPreviews',
      'resources',
      'healthCheck',
    ]);
    expect(policyNotice('shop', 'pr-42', trusted)).toMatch(
      /^pr-42 follows the policy of shop's last production deploy, not its own toss.json, for domain, previewDomain, previewAuth, maxPreviews, resources, healthCheck:/,
    );
    // The start command, build and the rest stay the pull request's own.
    expect(trusted.config.deployScript).toBe(greedy.deployScript);
  });

  it('leaves production its own toss.json', () => {
    const trusted = trustedConfig(greedy, 'production', policy);
    expect(trusted.config).toBe(greedy);
    expect(trusted.overridden).toEqual([]);
    expect(environmentLimits(greedy, 'production').buildTimeout).toBe(PRODUCTION_BUILD_TIMEOUT);
  });

  it('gives previews defaults before any production deploy, keeping only their own previewAuth', () => {
    const trusted = trustedConfig(
      config({ ...greedy, previewAuth: { user: 'pr', passwordHash: HASH } }),
      'pr-1',
      undefined,
    );
    expect(trusted.config.domain).toBeUndefined();
    expect(trusted.config.previewDomain).toBeUndefined();
    expect(trusted.config.maxPreviews).toBe(20);
    expect(trusted.config.previewAuth?.user).toBe('pr');
    expect(environmentLimits(trusted.config, 'pr-1')).toEqual({
      buildTimeout: PREVIEW_BUILD_TIMEOUT,
    });
    expect(policyNotice('shop', 'pr-1', trusted)).toMatch(/deploy production first/);
  });

  it('says nothing when the preview asks for what it gets', () => {
    expect(trustedConfig(production, 'pr-9', policy).overridden).toEqual([]);
  });
});

describe('who sleeps when idle', () => {
  const named = config({ previews: { sleepAfter: '30m' }, sleepAfter: { staging: '1h' } });

  it.each<[string, string, boolean, number | undefined]>([
    ['a pull request preview, by previews.sleepAfter', 'pr-4', false, 1800],
    ["a branch's own preview", 'feature-x', true, 1800],
    ['an environment deployed by name, unless sleepAfter names it', 'qa', false, undefined],
    ['a named environment sleepAfter names', 'staging', false, 3600],
    ['production, not named', 'production', false, undefined],
  ])('%s', (_what, environment, branchPreview, seconds) => {
    expect(sleepSecondsOf(named, environment, branchPreview)).toBe(seconds);
  });

  it('previews sleep after 15 minutes by default, and never with "off"', () => {
    expect(sleepSecondsOf(config(), 'pr-1', false)).toBe(900);
    expect(sleepSecondsOf(config({ previews: { sleepAfter: 'off' } }), 'pr-1', false)).toBe(
      undefined,
    );
  });

  it('production sleeps only when named, and a static site never does', () => {
    expect(sleepSecondsOf(config({ sleepAfter: { production: '2h' } }), 'production', false)).toBe(
      7200,
    );
    const site = config({ startCommand: undefined, static: 'dist' });
    expect(sleepSecondsOf(site, 'pr-1', false)).toBe(undefined);
  });

  it("a preview sleeps by production's recorded policy, not by its own toss.json", () => {
    const recorded = policyFromConfig(named, '20261127T223015Z-3fa9', new Date(0));
    const awakeForever = config({ previews: { sleepAfter: 'off' }, sleepAfter: { 'pr-4': 'off' } });
    const trusted = trustedConfig(awakeForever, 'pr-4', recorded);
    expect(sleepSecondsOf(trusted.config, 'pr-4', false)).toBe(1800);
    expect(trusted.overridden).toEqual(expect.arrayContaining(['previews', 'sleepAfter']));
  });
});
