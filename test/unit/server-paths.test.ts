import { describe, expect, it } from 'vitest';
import {
  appPaths,
  CADDY_IMPORT_LINE,
  environmentClass,
  envPaths,
  REGISTRY_FILE,
  REGISTRY_LOCK_FILE,
} from '../../src/server/paths.js';
import { appUsers, envUser } from '../../src/server/users.js';

const ID = '20261127T223015Z-3fa9';

describe('paths', () => {
  it('lays out the app', () => {
    const a = appPaths('shop');
    expect(a).toMatchObject({
      appDir: '/srv/shop',
      tossDir: '/srv/shop/.toss',
      stateFile: '/srv/shop/.toss/state.json',
      stateLockFile: '/srv/shop/.toss/state.lock',
      secretsDir: '/srv/shop/.toss/secrets',
      overridesDir: '/srv/shop/.toss/secrets/overrides',
    });
    expect(a.secretsFile('production')).toBe('/srv/shop/.toss/secrets/production.env');
    expect(a.secretsFile('preview')).toBe('/srv/shop/.toss/secrets/preview.env');
    expect(REGISTRY_FILE).toBe('/var/lib/toss/registry.json');
    expect(REGISTRY_LOCK_FILE).toBe('/var/lib/toss/registry.lock');
    expect(CADDY_IMPORT_LINE).toBe('import /etc/caddy/toss/*.caddy');
  });

  it('lays out an environment', () => {
    const p = envPaths('shop', 'pr-42');
    expect(p).toMatchObject({
      app: 'shop',
      environment: 'pr-42',
      environmentClass: 'preview',
      isProduction: false,
      envDir: '/srv/shop/pr-42',
      releasesDir: '/srv/shop/pr-42/releases',
      currentLink: '/srv/shop/pr-42/current',
      preserveDir: '/srv/shop/pr-42/preserve',
      cacheDir: '/srv/shop/pr-42/cache',
      envFilesDir: '/srv/shop/pr-42/env',
      slotsDir: '/srv/shop/pr-42/slots',
      secretsFile: '/srv/shop/.toss/secrets/preview.env',
      overridesFile: '/srv/shop/.toss/secrets/overrides/pr-42.env',
      unitTemplate: 'toss-shop-pr-42@.service',
      unitTemplateFile: '/etc/systemd/system/toss-shop-pr-42@.service',
      runUnit: 'toss-run-shop-pr-42.service',
      siteFile: '/etc/caddy/toss/shop-pr-42.caddy',
    });
    expect(p.releaseDir(ID)).toBe(`/srv/shop/pr-42/releases/${ID}`);
    expect(p.releaseEnvFile(ID)).toBe(`/srv/shop/pr-42/env/${ID}.env`);
    expect(p.slotLink(3001)).toBe('/srv/shop/pr-42/slots/3001');
    expect(p.slotEnvFile(3001)).toBe('/srv/shop/pr-42/env/slot-3001.env');
    expect(p.instanceUnit(3001)).toBe('toss-shop-pr-42@3001.service');
    expect(envPaths('shop', 'production')).toMatchObject({
      environmentClass: 'production',
      isProduction: true,
      secretsFile: '/srv/shop/.toss/secrets/production.env',
    });
  });

  it.each([
    ['app with a slash', () => appPaths('a/b')],
    ['app with ..', () => appPaths('..')],
    ['app in capitals', () => appPaths('Shop')],
    ['app too long', () => appPaths('a'.repeat(41))],
    ['environment with a space', () => envPaths('shop', 'pr 42')],
    ['environment with a newline', () => envPaths('shop', 'pr-42\n')],
    ['release id from outside', () => envPaths('shop', 'pr-1').releaseDir('../../etc')],
    ['port 0', () => envPaths('shop', 'pr-1').instanceUnit(0)],
    ['port 70000', () => envPaths('shop', 'pr-1').slotLink(70000)],
  ])('refuses %s', (_name, build) => {
    expect(build).toThrow(/invalid/);
  });

  it('classes environments', () => {
    expect(environmentClass('production')).toBe('production');
    expect(environmentClass('staging')).toBe('preview');
    expect(environmentClass('pr-1')).toBe('preview');
  });
});

describe('appUsers', () => {
  it.each([
    ['shop', 'toss-shop', 'toss-shop_pv'],
    ['a'.repeat(24), `toss-${'a'.repeat(24)}`, `toss-${'a'.repeat(24)}_pv`],
    ['a'.repeat(25), 'toss-aaaaaaaaaaaaaaaaa_2f521e', 'toss-aaaaaaaaaaaaaaaaa_2f521e_pv'],
    ['a'.repeat(40), 'toss-aaaaaaaaaaaaaaaaa_e33cdf', 'toss-aaaaaaaaaaaaaaaaa_e33cdf_pv'],
  ])('%s → %s, %s', (app, production, preview) => {
    expect(appUsers(app)).toEqual({ production, preview });
    expect(preview.length).toBeLessThanOrEqual(32);
  });

  it('never gives one app’s previews the user of another app’s production', () => {
    expect(appUsers('shop').preview).not.toBe(appUsers('shop-pv').production);
    expect(appUsers('shop-pv').production).toBe('toss-shop-pv');
  });

  it('keeps long names that share a prefix apart', () => {
    const a = appUsers(`${'x'.repeat(30)}-one`);
    const b = appUsers(`${'x'.repeat(30)}-two`);
    expect(a.production).not.toBe(b.production);
  });

  it('picks the user by environment class', () => {
    expect(envUser('shop', 'production')).toBe('toss-shop');
    expect(envUser('shop', 'staging')).toBe('toss-shop_pv');
  });
});
