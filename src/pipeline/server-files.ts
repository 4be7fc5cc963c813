/**
 * The one place where toss.json becomes what lands on the server for an environment: the
 * systemd unit template, the Caddy site, its host name and URL. Deploy and rollback both render
 * through here, so a toss.json field that shapes the unit is mapped once, in `unitFor`, and a
 * rollback can never rewrite the unit without it.
 *
 * `config` is always the trusted one (policy.ts): a preview's limits and names come from what
 * production recorded, never from the preview's own toss.json.
 */
import type { TossConfig } from '../config/schema.js';
import { TossError } from '../errors.js';
import { buildSiteFile } from '../server/caddy-site.js';
import { hostNameFor } from '../server/hostnames.js';
import type { EnvPaths } from '../server/paths.js';
import { environmentLimits } from '../server/policy.js';
import { staticSiteRoot } from '../server/release-files.js';
import { buildUnitTemplate } from '../server/systemd-unit.js';

/** The environment's unit template (`toss-<app>-<env>@.service`) for its two ports. */
export function unitFor(
  config: TossConfig,
  env: EnvPaths,
  ports: readonly [number, number],
): string {
  if (config.startCommand === undefined) {
    throw new TossError(`${env.app} is a static site: it has no unit to run`);
  }
  return buildUnitTemplate({
    paths: env,
    startCommand: config.startCommand,
    ports,
    resources: environmentLimits(config, env.environment),
    stopTimeoutSec: config.stopTimeout,
    writableRelease: !config.readOnly,
  });
}

/**
 * The environment's Caddy site, routing its host name to `port` (a static site: serving
 * `releaseId`'s static directory); previews get previewAuth.
 */
export function siteFor(
  config: TossConfig,
  env: EnvPaths,
  hostName: string,
  port: number,
  releaseId?: string,
  options: { wake?: boolean | undefined } = {},
): string {
  const target =
    config.static === undefined
      ? { port, wake: options.wake }
      : { root: staticSiteRoot(env, requireRelease(releaseId), config.static) };
  return buildSiteFile({
    hostName,
    ...target,
    tls: config.tls,
    basicAuth: env.isProduction ? undefined : config.previewAuth,
    app: env.app,
    environment: env.environment,
    certificate: env.isProduction ? undefined : config.previews.tls,
    // Search engines never index a preview; production only when toss.json says so.
    noindex: !env.isProduction || config.noindex,
    wildcard: env.isProduction ? wildcardOf(config) : undefined,
  });
}

/**
 * Under previews.tls "wildcard", production's site file also manages the previews' certificate,
 * `*.<previewDomain>` (the parent of nested names; of flat ones, the domain they sit under).
 */
export function wildcardOf(config: TossConfig): { domain: string; dns: string } | undefined {
  const { previews } = config;
  if (previews.tls !== 'wildcard' || previews.dns === undefined) return undefined;
  const parent =
    previews.hostNames === 'flat'
      ? (config.previewDomain ?? config.domain)
      : (config.previewDomain ??
        (config.domain === undefined ? undefined : `preview.${config.domain}`));
  return parent === undefined ? undefined : { domain: parent.toLowerCase(), dns: previews.dns };
}

/**
 * Whether the environment's site gets its certificate on demand, so the Caddyfile needs the
 * `on_demand_tls` ask endpoint (ensureOnDemandAsk in tls-ask.ts) before the site goes in: a
 * preview's under a public CA, and every site's under Caddy's local CA (see tlsLines in
 * caddy-site.ts; Caddy 2.7 and later refuse on-demand sites without an ask).
 */
export function needsOnDemandAsk(config: TossConfig, env: EnvPaths): boolean {
  return config.tls === 'internal' || isPublicPreview(config, env);
}

function isPublicPreview(config: TossConfig, env: EnvPaths): boolean {
  return config.tls === 'auto' && !env.isProduction;
}

/**
 * How the deploy's confirm step should reach the site: a preview whose certificate comes on
 * demand from a public CA is checked over plain HTTP (Caddy answers with its redirect), so that
 * deploying it obtains no certificate; its first visitor's handshake does. Under the local CA
 * the confirm's handshake gets the site its certificate.
 */
export function confirmTlsOf(config: TossConfig, env: EnvPaths): 'auto' | 'internal' | 'off' {
  return isPublicPreview(config, env) ? 'off' : config.tls;
}

function requireRelease(releaseId: string | undefined): string {
  if (releaseId === undefined) throw new TossError('a static site is served from a release');
  return releaseId;
}

/** The environment's host name: its domain, a preview subdomain, or an sslip.io name. */
export function hostNameOf(
  config: TossConfig,
  env: EnvPaths,
  serverIp: string | undefined,
): string {
  return hostNameFor({
    app: env.app,
    environment: env.environment,
    domain: config.domain,
    previewDomain: config.previewDomain,
    serverIp,
    hostNames: config.previews.hostNames,
  });
}

/** The environment's public URL for a host name. */
export function urlOf(config: TossConfig, hostName: string): string {
  return `${config.tls === 'off' ? 'http' : 'https'}://${hostName}/`;
}
