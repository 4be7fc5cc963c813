/**
 * Drift between state.json and what is on the server, and other things worth a warning in
 * `toss status`; each comes with the command that repairs it. Pure: the facts come in, the
 * warnings go out.
 */
import { ENV_NAME_PATTERN, isProduction } from '../config/env-name.js';
import { appDatabasePrefix, databaseName, isTemplateName } from './database.js';
import type { Inventory } from './inventory.js';
import { type EnvPaths, envPaths } from './paths.js';
import { describeListener, type ForeignListener } from './port-owner.js';
import {
  describeForeignNames,
  foreignNames,
  type Registry,
  type UnitOwners,
  unitOwners,
} from './registry.js';
import type { EnvironmentState, State } from './state.js';

export type WarningKind =
  | 'owned-elsewhere'
  | 'port-taken'
  | 'unit-missing'
  | 'site-missing'
  | 'unit-without-state'
  | 'site-without-unit'
  | 'service-failed'
  | 'service-inactive'
  | 'secrets-empty'
  | 'database-orphan'
  | 'server-drift';

export interface StatusWarning {
  kind: WarningKind;
  /** the environment concerned; null for app-wide warnings */
  environment: string | null;
  message: string;
  /** the command that repairs it */
  fix: string;
}

export interface DriftFacts {
  app: string;
  state: State | undefined;
  inventory: Pick<Inventory, 'unitTemplates' | 'siteFiles' | 'secretKeys' | 'services'>;
  /**
   * who owns which names server-wide: names that belong to another app with a longer prefix
   * (`shop`/`api-staging` and `shop-api`/`staging` share them) are never this app's drift
   */
  registry?: Registry | undefined;
  /** processes listening on an environment's ports that are not its instances (by port) */
  listeners?: ReadonlyMap<number, readonly ForeignListener[]> | undefined;
  /** the app's databases (database.ts names); undefined when PostgreSQL was not asked or absent */
  databases?: readonly string[] | undefined;
}

/** The environment a unit template or site file name of `app` stands for, if it is one. */
function environmentOf(name: string, prefix: string, suffix: string): string | undefined {
  if (!name.startsWith(prefix) || !name.endsWith(suffix)) return undefined;
  const env = name.slice(prefix.length, name.length - suffix.length);
  return ENV_NAME_PATTERN.test(env) ? env : undefined;
}

function ownedByAnotherApp(owners: UnitOwners | undefined, app: string, name: string): boolean {
  return owners?.get(name)?.some((o) => o.app !== app) ?? false;
}

export function findDrift(facts: DriftFacts): StatusWarning[] {
  const environments = facts.state?.environments ?? {};
  // Who owns which name, gathered once: every environment and file below asks.
  const owners = facts.registry === undefined ? undefined : unitOwners(facts.registry);
  const onServer = environmentsOnServer(facts, owners);
  const warnings: StatusWarning[] = [];
  for (const [name, env] of Object.entries(environments).sort(byEnvironment)) {
    warnings.push(...environmentDrift(facts, name, env, onServer));
  }
  warnings.push(...leftoverDrift(facts.app, environments, onServer));
  warnings.push(...emptySecrets(facts.app, Object.keys(environments), facts.inventory));
  warnings.push(...orphanDatabases(facts.app, environments, facts.databases ?? []));
  return warnings;
}

/**
 * Databases of the app with no environment (a removal that could not reach PostgreSQL, a
 * production removed without --drop-database); templates are not environments'.
 */
function orphanDatabases(
  app: string,
  environments: State['environments'],
  databases: readonly string[],
): StatusWarning[] {
  const owned = new Set(Object.keys(environments).map((env) => databaseName(app, env)));
  const warnings: StatusWarning[] = [];
  for (const name of databases) {
    if (owned.has(name) || isTemplateName(app, name)) continue;
    const env = name.slice(appDatabasePrefix(app).length);
    const byName = ENV_NAME_PATTERN.test(env) && databaseName(app, env) === name;
    warnings.push({
      kind: 'database-orphan',
      environment: null,
      message: `database ${name} belongs to no environment of ${app}${byName && isProduction(env) ? ' (production was removed and its database kept)' : ''}`,
      fix: !byName
        ? `runuser -u postgres -- dropdb --force ${name} (as root on the server)`
        : isProduction(env)
          ? 'toss remove production --force --drop-database'
          : `toss remove ${env}`,
    });
  }
  return warnings;
}

/** The environments whose unit template and whose Caddy site are on the server. */
interface OnServer {
  unitEnvs: Set<string>;
  siteEnvs: Set<string>;
  /** the registry's owners of each name; undefined without a registry */
  owners: UnitOwners | undefined;
}

/** Environments of the app's unit templates and site files, leaving out another app's names. */
function environmentsOnServer(
  { app, inventory }: DriftFacts,
  owners: UnitOwners | undefined,
): OnServer {
  const unitEnvs = new Set<string>();
  const siteEnvs = new Set<string>();
  for (const file of inventory.unitTemplates) {
    const env = environmentOf(file, `toss-${app}-`, '@.service');
    if (env !== undefined && !ownedByAnotherApp(owners, app, file)) unitEnvs.add(env);
  }
  for (const file of inventory.siteFiles) {
    const env = environmentOf(file, `${app}-`, '.caddy');
    if (env === undefined) continue;
    if (!ownedByAnotherApp(owners, app, `/etc/caddy/toss/${file}`)) siteEnvs.add(env);
  }
  return { unitEnvs, siteEnvs, owners };
}

/** What is wrong with one environment that state.json records. */
function environmentDrift(
  facts: DriftFacts,
  name: string,
  env: EnvironmentState,
  { unitEnvs, siteEnvs, owners }: OnServer,
): StatusWarning[] {
  // Its unit, site and service are another app's: none of them says anything about this one,
  // and the only repair is dropping this app's own records (remove leaves the rest alone).
  const foreign =
    facts.registry && owners ? foreignNames(facts.registry, facts.app, name, [], owners) : [];
  if (foreign.length > 0) {
    return [
      {
        kind: 'owned-elsewhere',
        environment: name,
        message: `${name} is in state.json but its names are another app's: ${describeForeignNames(foreign)}`,
        fix: `toss remove ${name}`,
      },
    ];
  }
  const p = envPaths(facts.app, name);
  const warnings = takenPorts(facts, p, env);
  if (!unitEnvs.has(name) && !env.staticSite) {
    warnings.push({
      kind: 'unit-missing',
      environment: name,
      message: `${name} is in state.json but its unit template ${p.unitTemplateFile} is missing`,
      fix: `toss deploy ${name}`,
    });
  }
  if (!siteEnvs.has(name)) {
    warnings.push({
      kind: 'site-missing',
      environment: name,
      message: `${name} is in state.json but its Caddy site ${p.siteFile} is missing: it is not served`,
      fix: `toss deploy ${name}`,
    });
  }
  return env.staticSite ? warnings : [...warnings, ...liveServiceDrift(facts.inventory, p, env)];
}

/** The environment's ports that something other than its own instances listens on. */
function takenPorts(facts: DriftFacts, p: EnvPaths, env: EnvironmentState): StatusWarning[] {
  const name = p.environment;
  const warnings: StatusWarning[] = [];
  for (const port of env.ports) {
    const taken = facts.listeners?.get(port) ?? [];
    if (taken.length === 0) continue;
    const stop = taken.map((l) =>
      l.unit.endsWith('.service') || l.unit.endsWith('.scope')
        ? `systemctl stop ${l.unit}`
        : l.pid === undefined
          ? `ss -ltnp 'sport = :${port}'`
          : `kill ${l.pid}`,
    );
    warnings.push({
      kind: 'port-taken',
      environment: name,
      message: `port ${port} of ${name} is held by ${taken.map(describeListener).join('; ')}, not by toss's ${p.instanceUnit(port)}${port === env.livePort ? ": Caddy sends this environment's traffic there" : ''}`,
      fix: `${[...new Set(stop)].join('; ')} (as root on the server), then toss deploy ${name}`,
    });
  }
  return warnings;
}

/** The live instance has failed, or is not running. */
function liveServiceDrift(
  inventory: DriftFacts['inventory'],
  p: EnvPaths,
  env: EnvironmentState,
): StatusWarning[] {
  const name = p.environment;
  const unit = p.instanceUnit(env.livePort);
  const active = inventory.services[unit];
  if (env.sleepAfter !== undefined && active !== 'failed') return sleepingDrift(inventory, p, env);
  if (active === 'failed') {
    return [
      {
        kind: 'service-failed',
        environment: name,
        message: `${unit} has failed (see toss logs ${name})`,
        fix: `toss rollback ${name}`,
      },
    ];
  }
  if (active !== undefined && active !== 'active' && active !== 'reloading') {
    return [
      {
        kind: 'service-inactive',
        environment: name,
        message: `${unit} is ${active}, not active`,
        fix: `toss deploy ${name}`,
      },
    ];
  }
  return [];
}

/**
 * A sleeping environment's instance may be stopped (it sleeps) or running (awake): only a wake
 * socket that does not listen is wrong, since then the next request cannot wake it.
 */
function sleepingDrift(
  inventory: DriftFacts['inventory'],
  p: EnvPaths,
  env: EnvironmentState,
): StatusWarning[] {
  const socket = p.wakeSocketUnit(env.livePort);
  const listening = inventory.services[socket];
  if (listening === undefined || listening === 'active') return [];
  return [
    {
      kind: 'service-inactive',
      environment: p.environment,
      message: `${socket} is ${listening}: ${p.environment} sleeps when idle, and no request can wake it`,
      fix: `toss deploy ${p.environment}`,
    },
  ];
}

/** Unit templates and sites on the server for environments state.json does not record. */
function leftoverDrift(
  app: string,
  environments: Record<string, EnvironmentState>,
  { unitEnvs, siteEnvs }: OnServer,
): StatusWarning[] {
  const warnings: StatusWarning[] = [];
  for (const name of [...unitEnvs].sort()) {
    if (environments[name] !== undefined) continue;
    warnings.push({
      kind: 'unit-without-state',
      environment: name,
      message: `unit template ${envPaths(app, name).unitTemplateFile} exists but state.json has no environment ${name}`,
      fix: `toss remove ${name}`,
    });
  }
  for (const name of [...siteEnvs].sort()) {
    if (environments[name] !== undefined || unitEnvs.has(name)) continue;
    warnings.push({
      kind: 'site-without-unit',
      environment: name,
      message: `Caddy site ${envPaths(app, name).siteFile} exists without a unit or state: it routes to nothing`,
      fix: `toss remove ${name}`,
    });
  }
  return warnings;
}

/** A secrets class some environment uses whose base secrets file is missing or empty. */
function emptySecrets(
  app: string,
  names: readonly string[],
  inventory: DriftFacts['inventory'],
): StatusWarning[] {
  const classes: Array<['production' | 'preview', boolean]> = [
    ['production', names.some(isProduction)],
    ['preview', names.some((n) => !isProduction(n))],
  ];
  const warnings: StatusWarning[] = [];
  for (const [cls, used] of classes) {
    const count = inventory.secretKeys[cls];
    if (!used || (count ?? 0) > 0) continue;
    warnings.push({
      kind: 'secrets-empty',
      environment: null,
      message: `the ${cls} secrets file ${count === null ? 'does not exist' : 'is empty'} (/srv/${app}/.toss/secrets/${cls}.env)`,
      fix: `toss secrets push ${cls} --file .env.${cls}`,
    });
  }
  return warnings;
}

// One collator for every comparison: localeCompare with options builds one per call (~0.1 ms
// each in a cold start, tens of ms to sort 200 environments).
const NAMES = new Intl.Collator('en', { numeric: true });

/** production first, then by name. */
export function byEnvironment([a]: [string, unknown], [b]: [string, unknown]): number {
  if (a === b) return 0;
  if (isProduction(a)) return -1;
  if (isProduction(b)) return 1;
  return NAMES.compare(a, b);
}
