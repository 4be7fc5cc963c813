/**
 * Caddy site files (one per environment) and the one import line toss adds to the user's
 * Caddyfile. Syntax of Caddy 2.6 (what Debian ships): `basicauth`, not 2.8's `basic_auth`.
 */
import { BASIC_AUTH_USER, BCRYPT_HASH, isCaddyKeyword } from '../config/schema.js';
import { TossError } from '../errors.js';
import { assertAppName, assertEnvName, assertPort, CADDY_IMPORT_LINE } from './paths.js';

export type TlsMode = 'auto' | 'internal' | 'off';

export interface SiteParams {
  hostName: string;
  /** the live port */
  port: number;
  tls: TlsMode;
  basicAuth?: { user: string; passwordHash: string } | undefined;
  /** for the header comment */
  app?: string | undefined;
  environment?: string | undefined;
}

const HOST_NAME =
  /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// sslip.io IPv6 labels start with `-` (`--1` for ::1), so the per-label rule is looser there.
const SSLIP_HOST_NAME = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.sslip\.io$/;

export function buildSiteFile(params: SiteParams): string {
  const host = params.hostName;
  if (host.length > 253 || !(HOST_NAME.test(host) || SSLIP_HOST_NAME.test(host))) {
    throw new TossError(`refusing to write a Caddy site for host name ${JSON.stringify(host)}`);
  }
  const port = assertPort(params.port);
  const body: string[] = [];
  if (params.tls === 'internal') body.push('tls internal');
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
  body.push(`reverse_proxy 127.0.0.1:${port}`);
  const address = params.tls === 'off' ? `http://${host}` : host;
  const owner =
    params.app === undefined || params.environment === undefined
      ? ''
      : ` (app ${assertAppName(params.app)}, environment ${assertEnvName(params.environment)})`;
  return [
    `# Managed by toss${owner}; rewritten on every deploy.`,
    `${address} {`,
    ...body.map((line) => `\t${line}`),
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
