/** The host name an environment is served on. */
import { isIP } from 'node:net';
import { isProduction } from '../config/env-name.js';
import { TossError } from '../errors.js';
import { assertAppName, assertEnvName } from './paths.js';

export interface HostNameParams {
  app: string;
  environment: string;
  /** production host name */
  domain?: string | undefined;
  /** parent of preview names; default `preview.<domain>` */
  previewDomain?: string | undefined;
  /** the server's IP, for sslip.io names when there is no domain */
  serverIp?: string | undefined;
}

/**
 * production → `domain`; previews → `<env>.<previewDomain or preview.<domain>>`; without a
 * domain → `<env>.<app>.<ip with - for . and :>.sslip.io`.
 */
export function hostNameFor(params: HostNameParams): string {
  const env = assertEnvName(params.environment);
  if (isProduction(env)) {
    if (params.domain !== undefined) return params.domain.toLowerCase();
  } else {
    const parent =
      params.previewDomain ??
      (params.domain === undefined ? undefined : `preview.${params.domain}`);
    if (parent !== undefined) return `${env}.${parent}`.toLowerCase();
  }
  if (params.serverIp === undefined) {
    throw new TossError(
      `no host name for ${params.app}/${env}: no domain in toss.json and no server IP to derive an sslip.io name from`,
    );
  }
  return `${env}.${assertAppName(params.app)}.${sslipLabel(params.serverIp)}.sslip.io`;
}

/** `203.0.113.10` → `203-0-113-10`; `2001:db8::1` → `2001-db8--1` (sslip.io's own forms). */
export function sslipLabel(ip: string): string {
  const version = isIP(ip);
  if (version === 4) return ip.replaceAll('.', '-');
  if (version === 6 && !ip.includes('%') && !ip.includes('.')) {
    return ip.toLowerCase().replaceAll(':', '-');
  }
  throw new TossError(
    `cannot derive an sslip.io name from ${JSON.stringify(ip)}: not an IP address`,
  );
}

/** sslip.io names share certificate rate limits; the doors print this once. */
export function usesSslip(hostName: string): boolean {
  return hostName.endsWith('.sslip.io');
}
