/**
 * `/var/lib/toss/registry.json`: server-wide, which app environment owns which ports, host names
 * and unit names, so several apps on one server never step on each other. Pure transitions;
 * written by compare-and-swap (cas.ts) under REGISTRY_LOCK_FILE.
 */
import { z } from 'zod';
import { TossError } from '../errors.js';
import { parseJsonShape, parseJsonText } from './json-file.js';
import { type EnvPaths, envPaths } from './paths.js';

const port = z.number().int().min(1).max(65535);

export const registryEnvironmentSchema = z.object({
  ports: z.tuple([port, port]),
  hostNames: z.array(z.string()),
  /** unit names and the site file name: whatever `<app>-<env>` produces */
  units: z.array(z.string()),
});

export const registrySchema = z.object({
  version: z.literal(1),
  apps: z.record(
    z.string(),
    z.object({
      origin: z.string().optional(),
      environments: z.record(z.string(), registryEnvironmentSchema),
    }),
  ),
});

export type Registry = z.infer<typeof registrySchema>;
export type RegistryEnvironment = z.infer<typeof registryEnvironmentSchema>;

export function emptyRegistry(): Registry {
  return { version: 1, apps: {} };
}

/** Parses registry.json text; `null` (no file yet) gives an empty registry. */
export function parseRegistry(text: string | null, file = 'registry.json'): Registry {
  if (text === null) return emptyRegistry();
  const json = parseJsonText(text, file);
  return fastRegistry(json) ?? parseJsonShape(registrySchema, json, file, 'toss registry');
}

/**
 * What registrySchema makes of `json`, checked by hand, or undefined when it would refuse it (the
 * schema then says why): its parse of every environment of every app cost tens of milliseconds
 * of a command's cold start at 200 environments. Same output as the schema (unknown keys
 * dropped, keys in its order; a property test holds it to that).
 */
export function fastRegistry(json: unknown): Registry | undefined {
  if (!isRecord(json) || json.version !== 1 || !isRecord(json.apps)) return undefined;
  const apps: Registry['apps'] = {};
  for (const app of Object.keys(json.apps)) {
    const entry = fastApp(json.apps[app]);
    if (app === '__proto__' || entry === undefined) return undefined;
    apps[app] = entry;
  }
  return { version: 1, apps };
}

function fastApp(entry: unknown): Registry['apps'][string] | undefined {
  if (!isRecord(entry) || !isRecord(entry.environments)) return undefined;
  if (entry.origin !== undefined && typeof entry.origin !== 'string') return undefined;
  const environments: Record<string, RegistryEnvironment> = {};
  for (const name of Object.keys(entry.environments)) {
    const env = entry.environments[name];
    if (name === '__proto__' || !isRecord(env)) return undefined;
    const { ports, hostNames, units } = env;
    if (!Array.isArray(ports) || ports.length !== 2 || !isPort(ports[0]) || !isPort(ports[1])) {
      return undefined;
    }
    if (!isStrings(hostNames) || !isStrings(units)) return undefined;
    environments[name] = {
      ports: [ports[0], ports[1]],
      hostNames: [...hostNames],
      units: [...units],
    };
  }
  return entry.origin === undefined ? { environments } : { origin: entry.origin, environments };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

export function serializeRegistry(registry: Registry): string {
  return `${JSON.stringify(fastRegistry(registry) ?? registrySchema.parse(registry), null, 2)}\n`;
}

/**
 * The names an environment owns besides its host name. `shop`/`api-x` and `shop-api`/`x` both
 * give `toss-shop-api-x@.service`: recording them is what lets claimNames refuse the second.
 */
export function environmentUnits(p: EnvPaths): string[] {
  return [p.unitTemplate, p.runUnit, p.siteFile, p.wakeSocketTemplate, p.wakeServiceTemplate];
}

export interface Claim {
  ports: [number, number];
  hostNames: string[];
  units: string[];
}

/** Who else owns `name` (as a host name, unit or port), if anyone. */
function findOwner(
  registry: Registry,
  app: string,
  environment: string,
  owns: (entry: RegistryEnvironment) => boolean,
): { app: string; environment: string } | undefined {
  for (const [otherApp, entry] of Object.entries(registry.apps)) {
    for (const [otherEnv, env] of Object.entries(entry.environments)) {
      if (otherApp === app && otherEnv === environment) continue;
      if (owns(env)) return { app: otherApp, environment: otherEnv };
    }
  }
  return undefined;
}

/**
 * Records that (app, environment) owns these names and ports; refuses any that another app
 * environment owns, naming the owner. Claiming again what one already owns changes nothing.
 */
export function claimNames(
  registry: Registry,
  app: string,
  environment: string,
  claim: Claim,
): Registry {
  const problems: string[] = [];
  const owner = (test: (e: RegistryEnvironment) => boolean) =>
    findOwner(registry, app, environment, test);
  for (const hostName of claim.hostNames) {
    const o = owner((e) => e.hostNames.includes(hostName));
    if (o)
      problems.push(`host name ${hostName} belongs to app ${o.app} (environment ${o.environment})`);
  }
  for (const unit of claim.units) {
    const o = owner((e) => e.units.includes(unit));
    if (o) problems.push(`${unit} belongs to app ${o.app} (environment ${o.environment})`);
  }
  for (const p of claim.ports) {
    const o = owner((e) => e.ports.includes(p));
    if (o) problems.push(`port ${p} belongs to app ${o.app} (environment ${o.environment})`);
  }
  if (problems.length > 0) {
    throw new TossError(
      `cannot deploy ${app}/${environment} on this server: ${problems.join('; ')}`,
      {
        hint: 'rename the app or the environment, or remove the other one from the server first',
      },
    );
  }
  const entry = registry.apps[app] ?? { environments: {} };
  return {
    ...registry,
    apps: {
      ...registry.apps,
      [app]: {
        ...entry,
        environments: {
          ...entry.environments,
          [environment]: {
            ports: claim.ports,
            hostNames: [...claim.hostNames],
            units: [...claim.units],
          },
        },
      },
    },
  };
}

/** Records the app's origin (first deploy or init). */
export function setRegistryOrigin(registry: Registry, app: string, origin: string): Registry {
  const entry = registry.apps[app] ?? { environments: {} };
  return { ...registry, apps: { ...registry.apps, [app]: { ...entry, origin } } };
}

/** Frees an environment's ports and names; an app left with nothing is dropped. */
export function freeEnvironment(registry: Registry, app: string, environment: string): Registry {
  const entry = registry.apps[app];
  if (entry?.environments[environment] === undefined) return registry;
  const { [environment]: _freed, ...environments } = entry.environments;
  const apps = { ...registry.apps };
  if (Object.keys(environments).length === 0 && entry.origin === undefined) delete apps[app];
  else apps[app] = { ...entry, environments };
  return { ...registry, apps };
}

/** The environment's entry, if it has one. */
export function registeredEnvironment(
  registry: Registry,
  app: string,
  environment: string,
): RegistryEnvironment | undefined {
  return registry.apps[app]?.environments[environment];
}

/** An app environment, as the registry and toss's file headers name it. */
export interface Owner {
  app: string;
  environment: string;
}

/** A name (unit, site file) of one app environment that another one owns. */
export interface ForeignName {
  name: string;
  owner: Owner;
}

// The first line buildSiteFile and buildUnitTemplate write: who the file was written for.
const MANAGED_HEADER =
  /^# Managed by toss \(app ([a-z][a-z0-9-]*), environment ([a-z][a-z0-9-]*)\)/;

/** The app environment a site file or unit template says it was written for, if toss wrote it. */
export function managedBy(text: string | null | undefined): Owner | undefined {
  const match = text == null ? null : MANAGED_HEADER.exec(text);
  return match ? { app: match[1]!, environment: match[2]! } : undefined;
}

/**
 * The unit and site names of (app, environment) that belong to another app environment: `shop`
 * `api-staging` and `shop-api` `staging` share every one of them. The registry answers first;
 * for files it has no claim on (a leftover, a registry written before the other deploy), the
 * header of the file on the server names who it was written for. A destructive step refuses
 * every name listed here.
 */
export function foreignNames(
  registry: Registry,
  app: string,
  environment: string,
  files: ReadonlyArray<readonly [path: string, text: string | null]> = [],
  owners: UnitOwners = unitOwners(registry),
): ForeignName[] {
  const found: ForeignName[] = [];
  for (const name of environmentUnits(envPaths(app, environment))) {
    const owner = otherUnitOwner(owners, app, environment, name);
    if (owner) found.push({ name, owner });
  }
  for (const [path, text] of files) {
    const owner = managedBy(text);
    if (owner === undefined || (owner.app === app && owner.environment === environment)) continue;
    if (found.some((f) => f.name === path || path.endsWith(`/${f.name}`))) continue;
    found.push({ name: path, owner });
  }
  return found;
}

/** Unit and site names → the app environments that own each, in the registry's order. */
export type UnitOwners = ReadonlyMap<string, readonly Owner[]>;

/**
 * Who owns each unit and site name of the registry, in one pass: looking a name up is then one
 * map lookup, not a walk of every environment of every app (which, done for every environment,
 * grew with the square of the environments on the server).
 */
export function unitOwners(registry: Registry): UnitOwners {
  const owners = new Map<string, Owner[]>();
  for (const [app, entry] of Object.entries(registry.apps)) {
    for (const [environment, env] of Object.entries(entry.environments)) {
      for (const unit of env.units) {
        const list = owners.get(unit);
        if (list === undefined) owners.set(unit, [{ app, environment }]);
        else list.push({ app, environment });
      }
    }
  }
  return owners;
}

/** The first app environment other than (app, environment) that owns unit or site name `name`. */
export function otherUnitOwner(
  owners: UnitOwners,
  app: string,
  environment: string,
  name: string,
): Owner | undefined {
  return owners.get(name)?.find((o) => o.app !== app || o.environment !== environment);
}

/** `toss-shop-api-staging@.service belongs to app shop-api (environment staging)`, joined. */
export function describeForeignNames(names: readonly ForeignName[]): string {
  return names
    .map(
      ({ name, owner }) => `${name} belongs to app ${owner.app} (environment ${owner.environment})`,
    )
    .join('; ');
}
