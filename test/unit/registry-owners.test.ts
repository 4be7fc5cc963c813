/**
 * The registry's index of who owns each unit and site name: one pass over the registry, and the
 * same answers as a walk of every environment of every app (what foreignNames did for each name).
 */
import { describe, expect, it } from 'vitest';
import { envPaths } from '../../src/server/paths.js';
import {
  claimNames,
  emptyRegistry,
  environmentUnits,
  foreignNames,
  otherUnitOwner,
  type Registry,
  unitOwners,
} from '../../src/server/registry.js';

/** A registry of `apps` apps with `envs` environments each, claimed the way deploys claim. */
function registryOf(apps: string[], envs: string[]): Registry {
  let registry = emptyRegistry();
  let port = 3000;
  for (const app of apps) {
    for (const env of envs) {
      registry = claimNames(registry, app, env, {
        ports: [port, port + 1],
        hostNames: [`${env}.${app}.example.test`],
        units: environmentUnits(envPaths(app, env)),
      });
      port += 2;
    }
  }
  return registry;
}

/** The walk the index replaces: the first owner other than (app, environment), in order. */
function walk(registry: Registry, app: string, environment: string, name: string) {
  for (const [otherApp, entry] of Object.entries(registry.apps)) {
    for (const [otherEnv, env] of Object.entries(entry.environments)) {
      if (otherApp === app && otherEnv === environment) continue;
      if (env.units.includes(name)) return { app: otherApp, environment: otherEnv };
    }
  }
  return undefined;
}

describe('unitOwners', () => {
  it('lists every owner of a name in the registry’s order', () => {
    // shop/api-staging and shop-api/staging produce the same unit and site names.
    const registry = registryOf(['shop'], ['api-staging']);
    registry.apps['shop-api'] = {
      environments: {
        staging: {
          ports: [4000, 4001],
          hostNames: ['staging.shop-api.example.test'],
          units: environmentUnits(envPaths('shop-api', 'staging')),
        },
      },
    };
    const owners = unitOwners(registry);
    expect(owners.get('toss-shop-api-staging@.service')).toEqual([
      { app: 'shop', environment: 'api-staging' },
      { app: 'shop-api', environment: 'staging' },
    ]);
    expect(otherUnitOwner(owners, 'shop', 'api-staging', 'toss-shop-api-staging@.service')).toEqual(
      { app: 'shop-api', environment: 'staging' },
    );
    expect(otherUnitOwner(owners, 'shop', 'pr-1', 'toss-shop-pr-1@.service')).toBeUndefined();
  });

  it('answers as the walk of every environment does, for every name of every environment', () => {
    const registry = registryOf(['shop', 'blog'], ['production', 'api-staging', 'pr-1', 'staging']);
    // What claimNames refuses, as a registry written before the other deploy can hold it.
    for (const env of ['staging', 'production']) {
      const app = registry.apps['shop-api'] ?? { environments: {} };
      app.environments[env] = {
        ports: [5000, 5001],
        hostNames: [],
        units: environmentUnits(envPaths('shop-api', env)),
      };
      registry.apps['shop-api'] = app;
    }
    const owners = unitOwners(registry);
    for (const [app, entry] of Object.entries(registry.apps)) {
      for (const env of Object.keys(entry.environments)) {
        for (const name of environmentUnits(envPaths(app, env))) {
          expect(otherUnitOwner(owners, app, env, name)).toEqual(walk(registry, app, env, name));
        }
        expect(foreignNames(registry, app, env, [], owners)).toEqual(
          foreignNames(registry, app, env),
        );
      }
    }
    // The shared names are found: shop/api-staging against shop-api/staging.
    expect(foreignNames(registry, 'shop', 'api-staging').map((f) => f.owner)).toContainEqual({
      app: 'shop-api',
      environment: 'staging',
    });
  });

  it('is empty for an empty registry', () => {
    expect(unitOwners(emptyRegistry()).size).toBe(0);
  });
});
