/**
 * Caddy site files (one per environment) and the one import line toss adds to the user's
 * Caddyfile. Syntax of Caddy 2.6 (what Debian ships): `basicauth`, not 2.8's `basic_auth`.
 */
import { BASIC_AUTH_USER, BCRYPT_HASH, DNS_PROVIDER, isCaddyKeyword } from '../config/schema.js';
import { TossError } from '../errors.js';
import { assertAppName, assertEnvName, assertPort, CADDY_IMPORT_LINE } from './paths.js';
import { isAskableName } from './tls-ask.js';
import { wakeSocketPath } from './wake.js';

export type TlsMode = 'auto' | 'internal' | 'off';

/**
 * What serves: the live instance's port (through its wake socket when the environment sleeps
 * when idle), or (a static site) the directory Caddy serves.
 */
export type SiteTarget =
  | { port: number; wake?: boolean | undefined; root?: undefined; balance?: undefined }
  | { root: string; port?: undefined; balance?: undefined }
  | { balance: Balance; port?: undefined; root?: undefined };

/**
 * A front's site: the name balanced across every web server's private site (see
 * buildPrivateSite), each checked actively so one that is down or reloading gets no request.
 */
export interface Balance {
  /** `10.0.0.2:2080`, … */
  upstreams: string[];
  /** the health check's path */
  healthUri: string;
}

export type SiteParams = SiteTarget & SiteOptions;

export interface SiteOptions {
  hostName: string;
  tls: TlsMode;
  basicAuth?: { user: string; passwordHash: string } | undefined;
  /** for the header comment */
  app?: string | undefined;
  environment?: string | undefined;
  /**
   * A preview's certificate under tls auto: `on-demand`, obtained at the first handshake once the
   * ask endpoint allows the name (the file's marker line makes the apply script allow it, see
   * caddy-apply.ts); `wildcard`, served from the `*.<previewDomain>` certificate production's
   * site file manages (on demand as well, but never allowed: no certificate of its own).
   */
  certificate?: 'on-demand' | 'wildcard' | undefined;
  /** answer with `X-Robots-Tag: noindex` */
  noindex?: boolean | undefined;
  /** production's site under previews.tls "wildcard": the previews' certificate, by DNS challenge */
  wildcard?: { domain: string; dns: string } | undefined;
}

/** The line that tells the apply script a site's name may get an on-demand certificate. */
export const ON_DEMAND_MARKER = '# toss-on-demand:';

const HOST_NAME =
  /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// sslip.io IPv6 labels start with `-` (`--1` for ::1), so the per-label rule is looser there.
const SSLIP_HOST_NAME = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.sslip\.io$/;

export function buildSiteFile(params: SiteParams): string {
  const host = params.hostName;
  if (host.length > 253 || !(HOST_NAME.test(host) || SSLIP_HOST_NAME.test(host))) {
    throw new TossError(`refusing to write a Caddy site for host name ${JSON.stringify(host)}`);
  }
  const body: string[] = [...tlsLines(params)];
  if (params.noindex) body.push('header X-Robots-Tag noindex');
  if (params.basicAuth !== undefined) {
    // The same closed alphabets as the schema (see schema.ts): checked again because this text
    // becomes Caddy configuration, whoever called.
    const { user, passwordHash } = params.basicAuth;
    if (!BASIC_AUTH_USER.test(user) || isCaddyKeyword(user)) {
      throw new TossError(
        `refusing previewAuth.user ${JSON.stringify(user)}: not a plain user name (letters, digits, ".", "_", "-"; not "import")`,
      );
    }
    if (!BCRYPT_HASH.test(passwordHash)) {
      throw new TossError(
        'refusing previewAuth.passwordHash: not a bcrypt hash with a cost from 04 to 14',
      );
    }
    body.push('basicauth {', `\t${user} ${passwordHash}`, '}');
  }
  body.push(...serve(params));
  const address = params.tls === 'off' ? `http://${host}` : host;
  const owner =
    params.app === undefined || params.environment === undefined
      ? ''
      : ` (app ${assertAppName(params.app)}, environment ${assertEnvName(params.environment)})`;
  const allowed = allowsOnDemand(params) ? [`${ON_DEMAND_MARKER} ${host}`] : [];
  return [
    `# Managed by toss${owner}; rewritten on every deploy.`,
    ...allowed,
    `${address} {`,
    ...body.map((line) => `\t${line}`),
    '}',
    ...wildcardSite(params),
    '',
  ].join('\n');
}

/**
 * Whether the site's name may get a certificate on demand (the apply script writes its name in
 * the ask endpoint's allow-list): a preview's under a public CA, and every name under Caddy's
 * local CA that the endpoint can allow.
 */
function allowsOnDemand(params: SiteOptions): boolean {
  if (params.tls === 'internal') return isAskableName(params.hostName);
  return params.tls === 'auto' && params.certificate === 'on-demand';
}

/**
 * The site's own `tls` lines: Caddy's local CA, or (a preview under a public CA) a certificate
 * obtained at the first handshake rather than at every reload. Caddy asks the `on_demand_tls`
 * endpoint of the Caddyfile first (see tls-ask.ts), which allows only live previews' names (and,
 * under the local CA, the sites' own).
 *
 * Under the local CA a site's certificate is `on_demand` too, for Caddy 2.6's reloads: each one
 * starts a new certificate cache, and the new listener takes handshakes (SO_REUSEPORT) before
 * the certificates of every managed site are loaded into it again, one by one (~0.4 ms each,
 * 80 ms at 200 sites): a handshake in between got "no certificate available" (a TLS internal
 * error alert). An on-demand site's handshake loads its certificate from storage when the cache
 * lacks it. The deploy's confirm step (over HTTPS) makes the first handshake, so the certificate
 * still comes at deploy; Caddy 2.7 keeps one cache across reloads (caddyserver/caddy#5623).
 */
function tlsLines(params: SiteOptions): string[] {
  if (params.tls === 'internal') {
    return allowsOnDemand(params) ? ['tls internal {', '\ton_demand', '}'] : ['tls internal'];
  }
  if (params.tls === 'auto' && params.certificate !== undefined) {
    return ['tls {', '\ton_demand', '}'];
  }
  return [];
}

/**
 * The `*.<previewDomain>` site whose only job is to make Caddy obtain and renew the previews'
 * wildcard certificate by DNS challenge (Caddy 2.6 obtains one certificate per site name, so
 * previews' own sites cannot ask for it). Previews' on-demand handshakes find it in Caddy's
 * cache or storage before they would ask for a certificate of their own; any other name under
 * the domain reaches this site and is cut off.
 */
function wildcardSite(params: SiteOptions): string[] {
  if (params.wildcard === undefined || params.tls !== 'auto') return [];
  const { domain, dns } = params.wildcard;
  if (domain.length > 251 || !HOST_NAME.test(domain) || !DNS_PROVIDER.test(dns)) {
    throw new TossError(
      `refusing the wildcard site *.${JSON.stringify(domain)} with DNS provider ${JSON.stringify(dns)}`,
    );
  }
  return [
    '',
    '# The previews\' certificate (previews.tls "wildcard"), obtained by DNS challenge.',
    `*.${domain} {`,
    '\ttls {',
    `\t\tdns ${dns}`,
    '\t}',
    '\tabort',
    '}',
  ];
}

/**
 * Caddy opens a connection to the instance per request and closes it after the response
 * (`keepalive off`), so a connection to an instance's port is a request in flight and nothing
 * else: the drain (instances.ts) stops an old instance once none is left. With keep-alive,
 * Caddy 2.6 keeps idle connections to the old instance open after a reload: for two minutes
 * without an explicit transport, and for the whole idle time after any request that reached the
 * old configuration late (Go's transport then forgets it was told to close idle connections).
 * A connection on loopback costs a few tens of microseconds.
 */
const UPSTREAM_TRANSPORT = ['\ttransport http {', '\t\tkeepalive off', '\t}'];

// A static site's directory: an absolute path of plain names, so it is one Caddyfile token.
const STATIC_ROOT = /^\/(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

function serve(target: SiteTarget): string[] {
  if (target.port !== undefined) return proxyTo(target.port, target.wake);
  if (target.balance !== undefined) return balanceAcross(target.balance);
  if (!STATIC_ROOT.test(target.root) || target.root.split('/').includes('..')) {
    throw new TossError(`refusing to serve ${JSON.stringify(target.root)} as a static site`);
  }
  return [`root * ${target.root}`, 'encode zstd gzip', 'file_server'];
}

/** reverse_proxy to the live instance on loopback (or its wake socket). */
function proxyTo(port: number, wake: boolean | undefined): string[] {
  const upstream = wake ? `unix/${wakeSocketPath(port)}` : `127.0.0.1:${assertPort(port)}`;
  return [`reverse_proxy ${upstream} {`, ...UPSTREAM_TRANSPORT, '}'];
}

const PRIVATE_UPSTREAM = /^(?:\d{1,3}\.){3}\d{1,3}:\d{1,5}$/;
const HEALTH_URI = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/;

/**
 * The front's balancing: a request is tried on another server for up to 5 s when one refuses
 * it, and each server's health path is asked every second, so one that fails stops getting
 * requests within about a second; a new connection per request, as with a local instance.
 */
function balanceAcross(balance: Balance): string[] {
  for (const upstream of balance.upstreams) {
    if (!PRIVATE_UPSTREAM.test(upstream)) {
      throw new TossError(`refusing to balance to ${JSON.stringify(upstream)}`);
    }
  }
  if (!HEALTH_URI.test(balance.healthUri)) {
    throw new TossError(`refusing the health path ${JSON.stringify(balance.healthUri)}`);
  }
  return [
    `reverse_proxy ${balance.upstreams.join(' ')} {`,
    '\tlb_policy round_robin',
    '\tlb_try_duration 5s',
    '\tlb_try_interval 100ms',
    `\thealth_uri ${balance.healthUri}`,
    '\thealth_interval 1s',
    '\thealth_timeout 2s',
    ...UPSTREAM_TRANSPORT,
    '}',
  ];
}

/**
 * A web server's own site for the front: plain HTTP on its private address only (`bind`), to
 * its live instance. The front reaches it over the private network; nothing else can. It
 * answers any Host: the front passes the public name on, so the app sees the name it is
 * served under. (So `front.port` is one app's on a server.)
 */
export function buildPrivateSite(params: {
  address: string;
  port: number;
  target: { port: number; wake?: boolean | undefined };
  app: string;
  environment: string;
}): string {
  const { address, port } = params;
  if (!PRIVATE_UPSTREAM.test(`${address}:${port}`)) {
    throw new TossError(`refusing the private address ${JSON.stringify(address)}`);
  }
  return [
    `# Managed by toss (app ${assertAppName(params.app)}, environment ${assertEnvName(params.environment)}, for the front); rewritten on every deploy.`,
    `http://:${assertPort(port)} {`,
    `\tbind ${address}`,
    ...proxyTo(params.target.port, params.target.wake).map((line) => `\t${line}`),
    '}',
    '',
  ].join('\n');
}

/**
 * The user's Caddyfile with toss's import line added once at top level (the end of the file,
 * after any global options block); every other byte stays as it was.
 */
export function ensureImportLine(caddyfile: string): { text: string; changed: boolean } {
  const present = caddyfile.split(/\r?\n/).some((line) => line.trimEnd() === CADDY_IMPORT_LINE);
  if (present) return { text: caddyfile, changed: false };
  const base = caddyfile === '' || caddyfile.endsWith('\n') ? caddyfile : `${caddyfile}\n`;
  const gap = base === '' ? '' : '\n';
  return {
    text: `${base}${gap}# Sites deployed by toss, one file per app environment.\n${CADDY_IMPORT_LINE}\n`,
    changed: true,
  };
}
